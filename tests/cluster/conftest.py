"""The multi-node tiers print their measured times at the end of every run, pass or fail."""

from tests.cluster.scenarios import TIER_REPORT


def pytest_terminal_summary(terminalreporter) -> None:
    if TIER_REPORT:
        terminalreporter.section("multi-node tiers: failover in 3-node Pacemaker (issue 10) and CTDB (issue 20) "
                                 "clusters")
        for line in TIER_REPORT:
            terminalreporter.write_line(line)
