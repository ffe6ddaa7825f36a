"""Host names for --address / -a, against real smbd and ganesha, with a resolver the test controls.

Every command runs under tests.fixtures.names.private_resolver: its own hosts file, resolv.conf
and nsswitch.conf in a mount namespace, so the host's resolver plays no part and no query leaves
the loopback. (a) a name from the hosts file probes the real server and the address used is
shown; (b) a DNS server that stops answering: every probe ends by its deadline at stage resolve,
the watch declares within the bound, and the threads stay bounded over many probes; (c) a name
that does not exist (NXDOMAIN, or a hosts file without it) is alert 61.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.names import DnsStub, private_resolver
from tests.integration.cli import FswatchCLI, alert_ids, phase, wait_for

pytestmark = pytest.mark.integration
NAME = "fileserver.fswatch.test"
SLACK = 0.5  # SPEC.md section 2: scheduling slack on top of the bound
PROBE_SLACK = 0.1  # a probe ends by its deadline + 0.1 s
EAI_NONAME = -2


class NamedCLI(FswatchCLI):
    """`fswatch` run under the test's own resolver files."""

    def __init__(self, root: Path, **resolver: str) -> None:
        super().__init__(root)
        self.resolver = resolver
        self.files = root / "resolver"

    def argv(self, *args: str):
        return private_resolver(super().argv(*args), self.files, **self.resolver)


def hosts_cli(tmp_path: Path) -> NamedCLI:
    return NamedCLI(tmp_path, hosts=f"127.0.0.1 {NAME}\n", sources="files")


def probe_args(kind: str, server, address: str = NAME):
    if kind == "samba":
        return ["probe", "samba", "--share", "public", "--address", address, "--port", str(server.port)]
    return ["probe", "nfs", "--export", server.export_path, "--address", address]


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


def state(cli: FswatchCLI, kind: str, watch_id: str) -> dict:
    try:
        return json.loads((cli.runtime / kind / watch_id / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- (a) a name from a hosts file --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["samba", "nfs"])
def test_a_name_from_the_hosts_file_probes_the_real_server(kind, request, tmp_path):
    server = request.getfixturevalue(f"{kind}_server")
    cli = hosts_cli(tmp_path)
    rc, out, proc = cli.json(*probe_args(kind, server), "--json", timeout=30)
    assert rc == 0 and out["ok"], (proc.stdout, proc.stderr)
    assert out["address"] == NAME and out["notes"]["address"] == "127.0.0.1"
    assert out["stages"][0]["stage"] == "resolve" and out["stages"][0]["ok"]
    text = cli(*probe_args(kind, server), timeout=30)
    assert text.returncode == 0 and "  address: 127.0.0.1" in text.stdout.splitlines(), text.stdout
    # The same name outside the namespace is unknown to the host: the namespace made the difference.
    assert FswatchCLI(tmp_path)(*probe_args(kind, server), "--timeout", "5", timeout=30).returncode == 1


def test_a_watch_on_a_name_shows_the_address_it_used(samba_server, tmp_path):
    cli = hosts_cli(tmp_path)
    # `add` checks the name's syntax only; it does not resolve (the host does not know NAME).
    added = FswatchCLI(tmp_path)(
        "add", "samba", "w1", "--share", "public", "--address", NAME, "--port", str(samba_server.port),
        "--interval", "1", "--retries", "1", "--timeout", "2",
    )
    assert added.returncode == 0, added.stderr
    watch = cli.start("run", "samba", "w1")
    try:
        wait_for(lambda: phase(cli, "samba", "w1") == "healthy", 15)
        last = state(cli, "samba", "w1")["last_probe"]
        assert last["notes"]["address"] == "127.0.0.1" and last["stages"][0]["stage"] == "resolve"
        rc, records, _ = cli.json("status", "samba", "w1", "--json")
        assert rc == 0 and json.dumps(records).count('"address": "127.0.0.1"') >= 1, records
    finally:
        stop(watch)
    assert watch.returncode == 0, watch.stderr.read()


# -- (b) a DNS server that stalls --------------------------------------------------------------


def test_a_stalled_dns_server_is_declared_within_the_bound(samba_server, tmp_path):
    interval, retries, timeout = 1, 2, 1
    bound = interval + retries * max(interval, timeout) + timeout  # SPEC.md section 2
    with DnsStub("answer", {NAME: "127.0.0.1"}) as dns:
        cli = NamedCLI(tmp_path, nameserver=dns.address, sources="dns")
        added = cli(
            "add", "samba", "w1", "--share", "public", "--address", NAME, "--port", str(samba_server.port),
            "--interval", str(interval), "--retries", str(retries), "--timeout", str(timeout),
        )
        assert added.returncode == 0, added.stderr
        watch = cli.start("run", "samba", "w1")
        try:
            wait_for(lambda: phase(cli, "samba", "w1") == "healthy", 15)
            assert dns.queries >= 1  # the name came from the stub, not from anywhere else
            healthy_threads = max(threads_of(watch.pid) for _ in range(5))
            fault = time.monotonic()
            dns.mode = "stall"
            stalled_threads, resolve_ms = [], []
            for _ in range(int((bound + 5) / 0.02)):  # bounded: past the bound, the watch has ended
                if watch.poll() is not None:
                    break
                try:
                    stalled_threads.append(threads_of(watch.pid))
                except (OSError, AssertionError):
                    break  # it ended between the poll and the read
                last = state(cli, "samba", "w1").get("last_probe") or {}
                if last.get("stages") and not last["ok"]:
                    resolve_ms.append(last["stages"][0]["ms"])
                time.sleep(0.02)
            rc = watch.wait(timeout=bound + 5)
            detected = time.monotonic() - fault
        finally:
            dns.mode = "answer"
            stop(watch)
    stderr = watch.stderr.read()
    print(f"declared {detected:.2f} s after the DNS stall (bound {bound} s); threads healthy {healthy_threads}, "
          f"stalled max {max(stalled_threads or [0])}; resolve stage max {max(resolve_ms or [0]):.0f} ms")
    assert rc == 1, stderr
    assert detected <= bound + SLACK, (detected, stderr)
    ids = alert_ids(stderr)
    assert ids[:2] == [1, 2] and ids[-2:] == [61, 6], stderr
    failed = [line for line in stderr.splitlines() if "alert 61:" in line]
    assert len(failed) == retries + 1, stderr
    assert all(
        "could not get environment of server(error[110])" in line
        and f"(resolve: name resolution gave no answer for '{NAME}' within the deadline)" in line
        for line in failed
    ), stderr
    # Each probe ended by its deadline (+0.1 s), and the stuck lookup cost one thread at most:
    # main + the process's one timer thread (core/timers.py: the evidence's looks, the Samba
    # probe's deadline) + one lookup, + at a deadline the short-lived thread that shuts the
    # probe's connection (test_many_probes_... counts the lookups by name).
    assert resolve_ms and max(resolve_ms) <= (timeout + PROBE_SLACK) * 1000, resolve_ms
    assert stalled_threads and max(stalled_threads) <= 4, (stalled_threads, healthy_threads)


def test_a_stop_ends_a_probe_stuck_in_resolve_at_once(tmp_path):
    """SIGTERM while the lookup hangs: the watch does not wait for the probe's 30 s deadline."""
    with DnsStub("stall") as dns:
        cli = NamedCLI(tmp_path, nameserver=dns.address, sources="dns")
        added = cli("add", "nfs", "n1", "--export", "/x", "--address", NAME, "--timeout", "30")
        assert added.returncode == 0, added.stderr
        asked = dns.queries  # add asks the server which security the export takes (a few seconds at most)
        watch = cli.start("run", "nfs", "n1")
        try:
            wait_for(lambda: dns.queries > asked, 15)  # the first probe is in its lookup
            time.sleep(0.3)
            t0 = time.monotonic()
            watch.send_signal(signal.SIGTERM)
            rc = watch.wait(timeout=10)
            took = time.monotonic() - t0
        finally:
            stop(watch)
    stderr = watch.stderr.read()
    assert rc == 0 and alert_ids(stderr)[-1] == 3, stderr
    assert took < 1.0, took


PROBE_LOOP = r"""
import json, sys, threading, time
from fswatch.core.deadline import Deadline
from fswatch.kinds import KINDS

kind, address, count, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
values = {"share": "public", "port": 9} if kind == "samba" else {"export": "/x", "port": 9, "mount_port": 9}
target = KINDS[kind].make_target(KINDS[kind].check_target({"address": address, **values}))
probe = KINDS[kind].probe_function()
results = []
for _ in range(count):
    t0 = time.monotonic()
    obs = probe(target, Deadline.after(seconds))
    f = obs.failure.fields() if obs.failure else {}
    results.append({"took": time.monotonic() - t0, "stage": f.get("stage"), "alert": f.get("alert"),
                    "timed_out": f.get("timed_out", False), "threads": threading.active_count(),
                    "lookups": sum(t.name == "fswatch-resolve" for t in threading.enumerate())})
print(json.dumps(results))
"""


@pytest.mark.parametrize("kind", ["samba", "nfs"])
def test_many_probes_against_a_stalled_dns_server_hold_one_lookup(kind, tmp_path):
    """The thread bound with the real glibc resolver: 100 probes, one lookup in flight."""
    count, seconds = 100, 0.05
    with DnsStub("stall") as dns:
        argv = private_resolver(
            [sys.executable, "-c", PROBE_LOOP, kind, NAME, str(count), str(seconds)],
            tmp_path / "resolver",
            nameserver=dns.address,
            sources="dns",
        )
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
        queries = dns.queries
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert len(results) == count
    assert all(r["stage"] == "resolve" and r["alert"] == 61 and r["timed_out"] for r in results), results
    assert max(r["took"] for r in results) <= seconds + PROBE_SLACK, results
    assert max(r["lookups"] for r in results) <= 1, results  # one lookup in flight, never more
    # Besides the lookup, only the main thread and, for Samba, the process's one timer thread
    # (core/timers.py) and the short-lived one that shuts a probe's connection past its deadline.
    assert max(r["threads"] for r in results) <= (4 if kind == "samba" else 2), results
    # One getaddrinfo() in flight sends one A and one AAAA query (glibc waits 30 s for them):
    # no probe started a second lookup.
    assert 1 <= queries <= 2, queries


# -- (c) a name that does not exist ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["samba", "nfs"])
@pytest.mark.parametrize("source", ["dns", "files"])
def test_a_name_that_does_not_resolve_is_alert_61(kind, source, request, tmp_path):
    server = request.getfixturevalue(f"{kind}_server")
    with DnsStub("nxdomain") as dns:
        if source == "dns":
            cli = NamedCLI(tmp_path, nameserver=dns.address, sources="dns")
        else:
            cli = NamedCLI(tmp_path, hosts="127.0.0.1 other.fswatch.test\n", sources="files")
        t0 = time.monotonic()
        rc, out, proc = cli.json(*probe_args(kind, server), "--timeout", "5", "--json", timeout=30)
        took = time.monotonic() - t0
        assert (dns.queries >= 1) == (source == "dns")
    assert rc == 1, (proc.stdout, proc.stderr)
    assert out["alert"] == 61 and out["failure"]["stage"] == "resolve" and out["failure"]["detail"] == str(EAI_NONAME)
    assert "EAI_NONAME" in out["failure"]["reason"] and not out["failure"].get("timed_out")
    command = "clp_sambamon" if kind == "samba" else "clp_nfsmon"
    assert out["message"] == (
        f"The {command} could not get environment of server(error[{EAI_NONAME}]). The {command} will terminate."
    )
    assert [s["stage"] for s in out["stages"]] == ["resolve"] and "address" not in out.get("notes", {})
    assert took < 5, took  # an answer, not a timeout


# -- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["file_server.example", "fs1-.example", "fs1..example", "10.1", "x" * 64 + ".example"])
def test_add_and_clp_refuse_what_is_no_host_name(bad, tmp_path):
    cli = FswatchCLI(tmp_path)
    proc = cli("add", "samba", "w1", "--share", "public", "--address", bad)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "alert 11:" in lines[0] and repr(bad) in lines[0], proc.stderr
    assert not (cli.config / "samba" / "w1.conf").exists()
    clp = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "clp_nfsmon"), "n1", "-d", "/x", "-a", bad],
        env=cli.env, capture_output=True, text=True, timeout=30,
    )
    assert clp.returncode == 2 and "alert 11: Invalid parameter in the clp_nfsmon." in clp.stderr, clp.stderr


def test_clp_takes_a_host_name(samba_server, tmp_path):
    """The seed's command line with `-a NAME`, in-process (systemd is not PID 1 here)."""
    cli = hosts_cli(tmp_path)
    clp_argv = [os.path.join(os.path.dirname(sys.executable), "clp_sambamon"), "c1", "-s", "public", "-a", NAME,
                "-n", str(samba_server.port), "-i", "1", "-c", "1", "-r", "2"]
    env = {**cli.env, "FSWATCH_SUPERVISION": "inprocess"}
    watch = subprocess.Popen(private_resolver(clp_argv, cli.files, **cli.resolver), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: phase(cli, "samba", "c1") == "healthy", 15)
        assert state(cli, "samba", "c1")["last_probe"]["notes"]["address"] == "127.0.0.1"
    finally:
        stop(watch)
    assert watch.returncode == 0, watch.stderr.read()


# -- the hardened unit, in a booted systemd ------------------------------------------------------


def test_a_hardened_unit_resolves_a_name_and_journals_the_address(container_base_root, samba_server):
    """RestrictAddressFamilies, DynamicUser & co. leave a hosts-file lookup working, and the
    journal entries carry FSWATCH_ADDRESS. The container's own /etc/hosts and nsswitch.conf
    (files only) are the resolver: no query leaves the container."""
    from tests.fixtures.container import BootedContainer
    from tests.integration.node import install_fswatch

    with BootedContainer(container_base_root) as node:
        install_fswatch(node)
        node.write_text("/etc/hosts", f"127.0.0.1 localhost\n127.0.0.1 {NAME}\n")
        node.write_text("/etc/nsswitch.conf", "hosts: files\n")
        for watch_id, share in (("h1", "public"), ("h2", "nosuchshare")):
            node.run(["fswatch", "add", "samba", watch_id, "--share", share, "--address", NAME, "--port",
                      str(samba_server.port), "--interval", "1", "--retries", "1", "--timeout", "2"])
        node.systemctl("start", "fswatch-samba@h1.service")  # returns after the first healthy probe
        status = json.loads(node.run(["fswatch", "status", "samba", "h1", "--json"]).stdout)
        assert status[0]["last_probe"]["notes"]["address"] == "127.0.0.1", status
        assert status[0]["last_probe"]["stages"][0]["stage"] == "resolve"
        node.systemctl("stop", "fswatch-samba@h1.service")
        node.systemctl("start", "fswatch-samba@h2.service", check=False, timeout=30)
        entries = [e for e in node.journal("fswatch-samba@h2.service") if e.get("FSWATCH_EVENT")]
    by_id = {int(e["FSWATCH_EVENT"]): e for e in entries}
    assert 62 in by_id and 6 in by_id, entries
    for alert_id in (62, 6):
        assert by_id[alert_id]["FSWATCH_ADDRESS"] == "127.0.0.1", by_id[alert_id]
    assert by_id[62]["FSWATCH_STAGE"] == "tree_connect"
