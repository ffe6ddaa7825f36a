"""The man pages (packaging/man): they render without a warning, and they say what the code
does: every fswatch option, the seed's clp syntax, ranges and defaults, and an ALERTS
section that is exactly what packaging/gen-man-alerts.py makes from fswatch/core/alerts.py."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fswatch.core.alerts import ALERTS
from fswatch.surfaces.cli.parser import build_parser

ROOT = Path(__file__).resolve().parents[2]
MAN = ROOT / "packaging" / "man"
PAGES = ["fswatch.8", "clp_sambamon.8", "clp_nfsmon.8", "fswatch-samba@.service.8", "fswatch-nfs@.service.8",
         "ocf_fswatch_samba.7", "ocf_fswatch_nfs.7"]


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not found: apt-get install {package}"
    return path


def _gen():
    spec = importlib.util.spec_from_file_location("gen_man_alerts", ROOT / "packaging" / "gen-man-alerts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def plain(page: str) -> str:
    """The page's source with font changes and escaped dashes undone: what a reader sees."""
    text = (MAN / page).read_text(encoding="utf-8")
    text = re.sub(r"\\f[BIRP]", "", text).replace("\\-", "-").replace("\\(en", "-").replace("\\&", "")
    return text


def rendered(page: str) -> str:
    """The page as man shows it, without bold or underlining."""
    groff = _tool("groff", "groff-base")
    proc = subprocess.run(
        [groff, "-man", "-Tutf8", "-P-cbou", str(MAN / page)], capture_output=True, text=True, timeout=30, check=True
    )
    return proc.stdout


def has_option(text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


@pytest.fixture(scope="module")
def man_tree(tmp_path_factory):
    """The pages laid out as under /usr/share/man, so the .so link resolves."""
    tree = tmp_path_factory.mktemp("man")
    for page in PAGES:
        (tree / f"man{page[-1]}").mkdir(exist_ok=True)
        shutil.copy(MAN / page, tree / f"man{page[-1]}" / page)
    return tree


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_warnings(page, man_tree):
    groff = _tool("groff", "groff-base")
    proc = subprocess.run(
        [groff, "-man", "-Tutf8", "-ww", "-z", f"man{page[-1]}/{page}"],
        cwd=man_tree, capture_output=True, text=True, timeout=30,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    man = _tool("man", "man-db")
    proc = subprocess.run(
        [man, "--warnings", "-l", f"man{page[-1]}/{page}"], cwd=man_tree, capture_output=True, text=True, timeout=30,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat"},
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.count("\n") > 3


def test_nfs_unit_page_is_the_samba_unit_page():
    assert (MAN / "fswatch-nfs@.service.8").read_text() == ".so man8/fswatch-samba@.service.8\n"
    assert "fswatch-nfs@.service" in plain("fswatch-samba@.service.8").split(".SH SYNOPSIS")[0]


def _cli_options(parser: argparse.ArgumentParser, path=()):
    """(command path, option) for every option of every (sub)command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), None
                yield from _cli_options(sub, (*path, name))
        else:
            for option in action.option_strings:
                yield path, option


def test_fswatch_page_documents_every_command_and_option():
    text = plain("fswatch.8")
    found = list(_cli_options(build_parser()))
    assert len(found) > 30  # the walk saw the subcommands
    missing = [" ".join(path) for path, option in found if option is None and f"fswatch {path[-1]}" not in text
               and not (len(path) == 2 and path[-1] in text)]
    missing += [f"{' '.join(path)} {option}" for path, option in found if option and not has_option(text, option)]
    assert missing == []


@pytest.mark.parametrize(
    "page, forms",
    [
        ("clp_sambamon.8", ["-s", "-a", "-u", "-p", "-i", "-c", "-r", "-stop", "-pause", "-continue", "-disp", "-del"]),
        ("clp_nfsmon.8", ["-d", "-a", "-n", "-i", "-c", "-r", "-stop", "-pause", "-continue", "-disp", "-del"]),
    ],
)
def test_clp_pages_give_the_seeds_syntax_ranges_and_defaults(page, forms):
    text = plain(page)
    command = page[:-2]
    synopsis = text.split(".SH DESCRIPTION")[0]
    assert [f for f in forms if not has_option(synopsis, f)] == []
    assert [f for f in forms if not re.search(rf"^\.(TP\n\.)?B[IR]? {re.escape(f)}\b", text, re.M)] == []
    for option, default in (("-i", "30"), ("-c", "5"), ("-r", "60")):
        entry = re.search(rf"^\.BI {option} .*\n(.*\n)*?(?=\.TP)", text, re.M).group(0)
        assert "1-10000" in entry and f"(default {default})" in entry, entry
    stop = re.search(r"^\.BR -stop .*\n(.*\n)*?(?=\.TP)", text, re.M).group(0)
    assert "1-10000" in stop and "(default 60)" in stop
    assert f".SY {command}\n.I ID\n" in text  # the identifier comes first
    for alert_id in (11, 12, 13, 14, 15):
        assert f"\\fB{alert_id}\\fR (" in (MAN / page).read_text()


@pytest.mark.parametrize("page", ["fswatch.8", "clp_sambamon.8", "clp_nfsmon.8"])
def test_alert_sections_are_generated_from_the_alert_table(page):
    gen = _gen()
    text = (MAN / page).read_text(encoding="utf-8")
    assert gen.render(page, text) == text, "run packaging/gen-man-alerts.py"
    section = text.split(gen.BEGIN)[1]
    kind = gen.PAGES[page]
    expected = [a.id for a in ALERTS.values() if kind is None or a.concerns(kind)]
    assert sorted(int(i) for i in re.findall(r"^\\fB(\d+)\\fR \(", section, re.M)) == sorted(expected)


def test_fswatch_page_has_the_journal_examples_and_the_bound():
    text = plain("fswatch.8")
    assert "journalctl -t fswatch FSWATCH_KIND=samba" in text
    assert "journalctl -x -u fswatch-samba@ID" in text
    assert f"journalctl MESSAGE_ID={ALERTS[6].message_id}" in text
    assert "t0 + interval + retries × max(interval, timeout) + timeout" in rendered("fswatch.8")
    for path in ("/etc/fswatch/KIND/ID.conf", "/etc/fswatch/samba/ID.password", "/run/fswatch/KIND/ID/pause",
                 "/run/fswatch/KIND/ID/state.json", "/run/fswatch/KIND/ID/lock"):
        assert path in text
    for name in ("FSWATCH_CONFIG_DIR", "FSWATCH_RUNTIME_DIR"):
        assert f".B {name}" in text


def test_every_page_the_units_name_exists():
    for unit in sorted((ROOT / "units").glob("*.service")):
        pages = re.findall(r"man:([^(\s]+)\((\d)\)", unit.read_text())
        assert pages, unit
        assert [f"{name}.{section}" for name, section in pages if not (MAN / f"{name}.{section}").exists()] == []


def test_ocf_page_documents_every_agent_parameter_action_and_exit_code():
    from fswatch.kinds import KINDS
    from fswatch.surfaces.ocf import watches as ocf

    assert (MAN / "ocf_fswatch_nfs.7").read_text() == ".so man7/ocf_fswatch_samba.7\n"
    text = plain("ocf_fswatch_samba.7")
    parameters = text.split(".SH PARAMETERS")[1].split(".SH ")[0]
    for kind in KINDS.values():
        agent = ocf.agent_for(kind)
        assert [p.name for p in agent.parameters if not re.search(rf"^\.BR? {p.name}\b", parameters, re.M)] == []
        actions = text.split(".SH ACTIONS")[1].split(".SH ")[0]
        assert [a.name for a in agent.actions if f".B {a.name}\n" not in actions] == []
    codes = text.split(".SH EXIT CODES")[1].split(".SH ")[0]
    assert re.findall(r"^\.B (\d+)$", codes, re.M) == ["0", "1", "190", "7", "6", "5", "3"]
    for default in ("(default 30)", "(default 5)", "(default 60)", "(default 445)"):
        assert default in parameters
