"""The journal catalog (packaging/fswatch.catalog), generated from the one alert table.

`python -m fswatch.surfaces.catalog > packaging/fswatch.catalog` (make catalog) regenerates it; a
test fails when the committed file and fswatch.core.alerts differ. journalctl -x shows an
entry beside each alert, with @FIELD@ replaced from the entry (journalctl(1), catalog
format in systemd's journal-message-catalog documentation).
"""

from __future__ import annotations

import sys

from fswatch.core.alerts import ALERTS, Alert
from fswatch.kinds import KINDS

SUPPORT = "man:fswatch(8)"


def _texts(a: Alert) -> str:
    lines = []
    for kind in KINDS.values():
        if a.concerns(kind.name):
            shown = a.template(kind).replace("{target}", "xxx").replace("{detail}", "nn")
            lines.append(f"  {kind.command}: {shown}")
    return "\n".join(lines)


def entry(a: Alert, lang: str = "") -> str:
    if lang == "ja":
        subject, what, remedy = a.ja_subject, a.ja_explanation, a.ja_remedy
        head = f"fswatch アラート {a.id} (監視 @FSWATCH_WATCH@, 種別 @FSWATCH_KIND@)。メッセージ:"
        fix = "対処:"
    else:
        subject, what, remedy = a.subject, a.explanation, a.remedy
        head = f"fswatch alert {a.id} (watch @FSWATCH_WATCH@, kind @FSWATCH_KIND@). Message:"
        fix = "What to do:"
    return "\n".join(
        [
            f"-- {a.message_id}{' ' + lang if lang else ''}",
            f"Subject: {subject}",
            "Defined-By: fswatch",
            f"Support: {SUPPORT}",
            "Documentation: man:fswatch(8)",
            "",
            head,
            _texts(a),
            "",
            what,
            "",
            f"{fix} {remedy}" if remedy != "-" else fix + " -",
            "",
        ]
    )


def render() -> str:
    parts = ["# fswatch journal catalog: generated from fswatch/core/alerts.py by `make catalog`; do not edit.\n"]
    for a in sorted(ALERTS.values(), key=lambda a: a.id):
        parts.append(entry(a))
        parts.append(entry(a, "ja"))
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
