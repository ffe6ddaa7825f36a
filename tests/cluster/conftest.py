"""The cluster tier prints its measured times at the end of every run, pass or fail."""

from tests.cluster.scenarios import TIER_REPORT


def pytest_terminal_summary(terminalreporter) -> None:
    if TIER_REPORT:
        terminalreporter.section("cluster tier (issue 10): failover in a 3-node Pacemaker cluster")
        for line in TIER_REPORT:
            terminalreporter.write_line(line)
