import re

import pytest

from fswatch.core import alerts
from fswatch.core.alerts import ALERTS
from fswatch.kinds import KINDS

SEED_IDS = {1, 2, 3, 6, 7, 8, 11, 12, 13, 14, 15, 42, 61, 62, 63, 64, 65, 66, 71, 72, 73, 74, 75}


def test_seed_ids_kept_and_licence_ids_gone():
    assert SEED_IDS <= set(ALERTS)
    assert not set(ALERTS) & set(range(51, 57))


def test_message_ids_unique_and_well_formed():
    ids = [a.message_id for a in ALERTS.values()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_message_ids_are_stable():
    # Changing a MESSAGE_ID breaks every journal filter and catalog entry in the field.
    assert ALERTS[6].message_id == "4db6f7435fc94ddfaab5fe1d633cb832"
    assert ALERTS[62].message_id == "a88f63218db04102b784827fc05df592"
    assert ALERTS[81].message_id == "04cf7e10df1d4758a4d267273d6b8fe0"


@pytest.mark.parametrize(
    "alert_id, kind, fields, text",
    [
        (1, "samba", {}, "The clp_sambamon has started watching Samba."),
        (1, "nfs", {}, "The clp_nfsmon has started watching NFS."),
        (2, "samba", {"target": "pub"}, "The clp_sambamon is going to watch share resource [pub]."),
        (2, "nfs", {"target": "/x"}, "The clp_nfsmon is going to watch shared directory '/x'."),
        (3, "nfs", {"target": "/x"}, "The clp_nfsmon will stop watching NFS shared directory '/x'."),
        (14, "samba", {}, "The specified monitor id is already under use in other processes."),
        (12, "nfs", {}, "'-d' parameter is not specified at the clp_nfsmon command."),
        (
            62,
            "samba",
            {"target": "s", "detail": "0xc00000cc"},
            "The clp_sambamon has detected an error in Samba [s] (tree connect error[0xc00000cc]).",
        ),
        (72, "samba", {"detail": 111}, "The clp_sambamon has detected network error(connect error[111])."),
        (82, "nfs", {"detail": "RPC: Timed out"}, "clp_nfsmon: RPC: Port mapper failure - RPC: Timed out"),
        (83, "nfs", {}, "clp_nfsmon: RPC: Program not registered."),
        (
            84,
            "nfs",
            {"detail": "Connection refused"},
            "clp_nfsmon: RPC: Unable to receive: errno = Connection refused.",
        ),
    ],
)
def test_seed_texts_verbatim(alert_id, kind, fields, text):
    assert ALERTS[alert_id].render(KINDS[kind], **fields) == text


def test_every_text_renders_and_names_its_command():
    for a in ALERTS.values():
        assert any(a.concerns(k) for k in KINDS)
        for kind in KINDS.values():
            if not a.concerns(kind.name):
                continue
            rendered = a.render(kind, target="T", detail="D")
            assert "{" not in rendered
            if a.id != 14:  # the seed's text 14 names no command
                assert kind.command in rendered
            for other in KINDS.values():
                if other is not kind:
                    assert other.command not in rendered


def test_every_alert_has_a_name_and_every_name_an_alert():
    priorities = ("CRIT", "ERR", "WARNING", "NOTICE", "INFO")
    names = {v for n, v in vars(alerts).items() if n.isupper() and isinstance(v, int) and n not in priorities}
    assert names == set(ALERTS)
    assert alerts.SLOW == 92 and alerts.TERMINATE == 6 and alerts.NFS_FAILED == 66  # never renumbered


class _NewKind:
    """A kind fswatch does not have: it lends its words and gets every shared alert's text."""

    name = "webdav"
    phrases = {"command": "clp_davmon", "service": "WebDAV", "resource": "collection <{target}>",
               "server": "WebDAV <{target}>", "option": "-w"}  # fmt: skip


def test_a_new_kind_needs_no_new_row_for_the_alerts_every_kind_has():
    kind = _NewKind()
    assert ALERTS[1].render(kind) == "The clp_davmon has started watching WebDAV."
    assert ALERTS[2].render(kind, target="/dav") == "The clp_davmon is going to watch collection </dav>."
    assert ALERTS[12].render(kind) == "'-w' parameter is not specified at the clp_davmon command."
    slow = "The clp_davmon has seen a slow answer from WebDAV </d> (3 s)."
    assert ALERTS[92].render(kind, target="/d", detail="3 s") == slow
    assert not ALERTS[62].concerns(kind.name) and not ALERTS[81].concerns(kind.name)  # SMB's and NFS's own


def test_a_target_is_a_value_never_a_template():
    assert ALERTS[2].render(KINDS["samba"], target="{command}{detail}") == (
        "The clp_sambamon is going to watch share resource [{command}{detail}]."
    )


def test_catalog_texts_present():
    for a in ALERTS.values():
        assert a.subject and a.explanation and a.remedy
        assert a.ja_subject and a.ja_explanation and a.ja_remedy


def test_committed_catalog_matches_the_table():
    from pathlib import Path

    from fswatch.surfaces.catalog import render

    committed = Path(__file__).resolve().parents[2] / "packaging" / "fswatch.catalog"
    assert committed.read_text(encoding="utf-8") == render(), "run `make catalog` and commit the result"


def test_catalog_has_an_english_and_a_japanese_entry_per_alert():
    from fswatch.surfaces.catalog import render

    text = render()
    for a in ALERTS.values():
        assert f"-- {a.message_id}\n" in text and f"-- {a.message_id} ja\n" in text


def test_render_leaves_unknown_placeholders_empty_and_a_missing_kind_is_named():
    from fswatch.core.alerts import alert

    samba, nfs = KINDS["samba"], KINDS["nfs"]
    assert alert(91).render(samba) == "The clp_sambamon has seen Samba [] healthy again after  failed probes."
    assert alert(91).render(samba, target=None, detail=3).endswith("[] healthy again after 3 failed probes.")
    with pytest.raises(KeyError) as info:
        alert(62).template(nfs)
    assert info.value.args == ("alert 62 has no nfs text",)
