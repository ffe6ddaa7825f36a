"""fswatch/ocf without servers: every watch state → exit code and exit reason, the
meta-data against the schemas resource-agents ships, the dispatch, the parameters."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from fswatch.kinds import KINDS
from fswatch.surfaces.ocf import agent as lib
from fswatch.surfaces.ocf import watches as ocf
from fswatch.surfaces.ocf.watches import verdict
from fswatch.watch.status import WatchStatus, WatchView


def view(pid, raw):
    """What fswatch.watch.status.look would see: the lock's holder and the state file's JSON."""
    return WatchView("samba", "w1", pid, None if raw is None else WatchStatus.parse(raw)[0])

SCHEMAS = "/usr/share/resource-agents"


def state(phase, *, slow=False, failure=None, total_ms=3.2, **extra):
    last = {"ok": failure is None, "started": 1.0, "total_ms": total_ms, "stages": []}
    if failure:
        last["failure"] = failure
    out = {
        "kind": "samba", "id": "w1", "target": "public", "pid": 4242, "phase": phase, "status": f"{phase}: ...",
        "failures": 2 if phase == "failed" else 0, "attempts": 2, "slow": slow,
        "schedule": {"interval": 1, "retries": 1, "timeout": 2, "detection_bound": 4},
        "last_probe": last,
    }
    out.update(extra)
    return out


TREE = {"alert": 62, "stage": "tree_connect", "reason": "STATUS_BAD_NETWORK_NAME", "detail": "0xc00000cc",
        "ntstatus": "0xc00000cc"}
ERRNO = {"alert": 42, "stage": "connect", "reason": "no buffer space", "detail": "105", "function": "socket"}


# Lock holder (None = no live watch), state file, attribute mode → exit code, words of the reason.
CASES = [
    # never started, or stopped cleanly: 7, and nothing to say
    (None, None, False, 7, None),
    (None, state("stopped"), False, 7, None),
    (None, state("stopped"), True, 7, None),
    # alive and healthy / not yet judged / retrying / paused: 0
    (4242, state("healthy"), False, 0, None),
    (4242, state("starting"), False, 0, None),
    (4242, None, False, 0, None),  # lock taken, first state not yet written
    (4242, state("failing", failures=1), False, 0, None),
    (4242, state("paused"), False, 0, None),
    (4242, state("resuming"), False, 0, None),
    (4242, state("stopped"), False, 0, None),  # on its way out: Pacemaker's stop will wait
    # slow but answering (alert 92), or an NFSv4 grace period: degraded, never failed
    (4242, state("healthy", slow=True, total_ms=1500.0), False, 190, "slow: the last probe took 1500.0 ms"),
    # a key the state file does not have (an old agent read "grace", which nothing writes) changes nothing
    (4242, state("healthy", grace=True), False, 0, None),
    (4242, state("degraded", degraded={"cause": "grace period", "reason": "OPEN answered NFS4ERR_GRACE",
                                       "probes": 3, "limit_seconds": 270}), False, 190,
     "grace period (alert 100), 3 probes, counted failed after 270 s: OPEN answered NFS4ERR_GRACE"),
    (4242, state("degraded", degraded={"cause": "grace period"}), True, 0, None),
    # declared failed: 1 with stage, alert id and cause — whether the process is still exiting or gone
    (None, state("failed", failure=TREE), False, 1,
     "declared failed after 2/2 failed probes: stage tree_connect, alert 62: The clp_sambamon has detected an "
     "error in Samba [public] (tree connect error[0xc00000cc]). (cause: STATUS_BAD_NETWORK_NAME)"),
    (4242, state("failed", failure=TREE), False, 1, "stage tree_connect, alert 62:"),
    (None, state("failed", failure=ERRNO), False, 1, "stage connect, alert 42: "),
    (None, state("failed"), False, 1, "the watch declared the server failed after 2/2 failed probes"),
    # died without a verdict (SIGKILL, watchdog): 1, not 7 — Pacemaker must recover it
    (None, state("healthy"), False, 1, "the watch ended without a verdict (last phase 'healthy', pid 4242)"),
    (None, state("failing"), False, 1, "ended without a verdict"),
    (None, state("paused"), True, 1, "ended without a verdict"),
    # attribute mode: the verdict travels in the node attribute; monitor says the watch runs
    (4242, state("failed", failure=TREE), True, 0, None),
    (4242, state("healthy", slow=True), True, 0, None),
    (None, state("failed", failure=TREE), True, 1, "stage tree_connect, alert 62:"),
]


@pytest.mark.parametrize("pid, st, attribute, rc, words", CASES)
def test_every_watch_state_maps_to_its_exit_code_and_reason(pid, st, attribute, rc, words):
    code, reason = verdict(view(pid, st), attribute_mode=attribute)
    assert code == rc
    if words is None:
        assert reason is None
    else:
        assert words in reason
        assert "\n" not in reason


def _meta(kind):
    return lib.meta_data(ocf.agent_for(KINDS[kind]))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_meta_data_validates_against_resource_agents_dtd_and_rng(kind):
    xml = _meta(kind)
    # As ocf-tester checks it: DTD validation with the DOCTYPE resolved in resource-agents' dir.
    dtd = subprocess.run(["xmllint", "--noout", "--valid", "-"], input=xml, cwd=SCHEMAS,
                         capture_output=True, text=True, timeout=30)
    assert (dtd.returncode, dtd.stderr) == (0, "")
    rng = subprocess.run(["xmllint", "--noout", "--nonet", "--relaxng", f"{SCHEMAS}/metadata.rng", "-"],
                         input=xml.replace('<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">\n', ""),
                         capture_output=True, text=True, timeout=30)
    assert rng.returncode == 0, rng.stderr


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_watch_setting_is_a_described_parameter_with_its_default(kind):
    root = ET.fromstring(_meta(kind).split("\n", 2)[2])
    assert root.find("version").text == "1.1"
    params = {p.get("name"): p for p in root.iter("parameter")}
    expected = {"watch_id", "interval", "retries", "timeout", "attribute", "evidence", "push"}
    expected |= {f.name for f in KINDS[kind].fields}
    if KINDS[kind].takes_password:
        expected.add("password_file")
    if KINDS[kind].takes_keytab:
        expected.add("keytab")
    assert set(params) == expected
    for name, p in params.items():
        assert len(p.find("longdesc").text) > 20 and p.find("shortdesc").text, name
        content = p.find("content")
        if p.get("required") == "1":
            continue
        # a fixed default is in the attribute; one decided at run time is described
        assert content.get("default") is not None or "default" in p.find("longdesc").text, name
    assert params["interval"].find("content").attrib == {"type": "integer", "default": "30"}
    assert params["evidence"].find("content").attrib == {"type": "string", "default": "stopped"}
    assert params["push"].find("content").attrib == {"type": "boolean", "default": "true"}
    actions = {(a.get("name"), a.get("depth")) for a in root.iter("action")}
    assert actions == {("start", None), ("stop", None), ("monitor", None), ("monitor", "10"),
                       ("validate-all", None), ("meta-data", None)}


def test_dispatch_meta_data_unknown_actions_and_usage(capsys):
    assert ocf.main("samba", ["meta-data"], env={}) == 0
    assert capsys.readouterr().out.startswith('<?xml version="1.0"?>')
    for action in ("notify", "promote", "demote", "migrate_to", "reload", "bogus"):
        assert ocf.main("nfs", [action], env={}) == lib.OCF_ERR_UNIMPLEMENTED
    assert ocf.main("nfs", [], env={}) == lib.OCF_ERR_ARGS
    assert "usage: nfs {meta-data|monitor|start|stop|validate-all}" in capsys.readouterr().err


def test_bad_settings_give_6_with_fswatch_s_reason_on_one_line(capsys, tmp_path):
    env = {"OCF_RESOURCE_INSTANCE": "r1", "OCF_RESKEY_share": "x", "OCF_RESKEY_retries": "0",
           "FSWATCH_RUNTIME_DIR": str(tmp_path)}
    assert ocf.main("samba", ["validate-all"], env=env) == ocf.OCF_ERR_CONFIGURED
    assert capsys.readouterr().err == "ocf-exit-reason:alert 11: retries must be 1..10000, not 0\n"


def test_probe_of_a_resource_with_an_impossible_name_is_not_running(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FSWATCH_RUNTIME_DIR", str(tmp_path))
    env = {"OCF_RESOURCE_INSTANCE": "r1", "OCF_RESKEY_watch_id": "-x", "OCF_RESKEY_CRM_meta_interval": "0"}
    assert ocf.main("samba", ["monitor"], env=env) == ocf.OCF_NOT_RUNNING
    assert capsys.readouterr().err == ""
    env["OCF_RESKEY_CRM_meta_interval"] = "10000"  # a recurring monitor says why
    assert ocf.main("samba", ["monitor"], env=env) == ocf.OCF_ERR_CONFIGURED


@pytest.mark.parametrize("instance, watch_id", [
    ("fswatch-smb", "fswatch-smb"), ("smb:2", "smb"), ("my.res", "my_res"), ("a b", "a_b"),
])
def test_watch_id_defaults_to_the_resource_name(instance, watch_id):
    req = lib.Request(ocf.agent_for(KINDS["samba"]), "monitor", {"OCF_RESOURCE_INSTANCE": instance})
    assert ocf.watch_id(req) == watch_id
    req = lib.Request(ocf.agent_for(KINDS["samba"]), "monitor", {"OCF_RESOURCE_INSTANCE": instance,
                                                                 "OCF_RESKEY_watch_id": "given"})
    assert ocf.watch_id(req) == "given"


def test_the_agent_answers_before_pacemaker_s_timeout():
    now = [100.0]
    agent = ocf.agent_for(KINDS["nfs"])
    for ms, left in (("20000", 18.0), ("3000", 2.5), ("120000", 115.0), ("", 85.0), ("junk", 85.0)):
        req = lib.Request(agent, "start", {"OCF_RESKEY_CRM_meta_timeout": ms}, clock=lambda: now[0])
        assert req.deadline().remaining() == pytest.approx(left)


def test_readme_pacemaker_commands_use_only_parameters_the_agents_declare():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Pacemaker")[1].split("\n## ")[0]
    commands = re.findall(r"ocf:fswatch:(samba|nfs) ((?:\\\n|[^\n])*)", section)  # in commands, not prose
    assert len(commands) >= 6  # pcs and crmsh, both modes
    for kind, rest in commands:
        declared = {p.name for p in ocf.agent_for(KINDS[kind]).parameters}
        used = set(re.findall(r"\b([a-z_]+)=", rest.split(" op ")[0]))
        assert used and used <= declared, (kind, used - declared)
    assert "pcs constraint location smb rule score=-INFINITY not_defined fswatch-smb or fswatch-smb lt 1" in section
    assert "crm configure location" in section and "crm configure clone" in section


@pytest.mark.parametrize("phase, updated, attribute, rc", [
    ("healthy", 1000.0, False, 0),     # wrote 8 s ago: interval 1 + timeout 2 + 5 s not exceeded
    ("healthy", 990.0, False, 1),      # 18 s of silence: frozen
    ("failing", 990.0, False, 1),
    ("healthy", 990.0, True, 1),       # a frozen watch publishes nothing either
    ("paused", 100.0, False, 0),       # a paused watch writes nothing, by design
])
def test_a_live_but_silent_watch_is_frozen_where_no_watchdog_guards_it(phase, updated, attribute, rc):
    st = state(phase, updated=updated)
    code, reason = verdict(view(4242, st), attribute_mode=attribute, now=1008.0)
    assert code == rc
    if rc == 1:
        assert reason.startswith("the watch (pid 4242) has not reported for 18 s")
    # under systemd (now=None) its watchdog does this job
    assert verdict(view(4242, st), attribute_mode=attribute)[0] == 0


def test_stop_under_an_impossible_name_succeeds(tmp_path, monkeypatch):
    monkeypatch.setenv("FSWATCH_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("FSWATCH_SUPERVISION", "inprocess")
    env = {"OCF_RESOURCE_INSTANCE": "r1", "OCF_RESKEY_watch_id": "-x"}
    assert ocf.main("samba", ["stop"], env=env) == ocf.OCF_SUCCESS  # a failed stop would fence the node
