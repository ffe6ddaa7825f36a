#!/usr/bin/env python3
"""Writes the ALERTS sections of the man pages from the one alert table (fswatch/core/alerts.py).

fswatch.8 lists every alert with both kinds' texts; clp_sambamon.8 and clp_nfsmon.8 list
the alerts of their kind. Each section sits between the marker comments BEGIN and END
below, so nothing else in the pages is touched and the texts cannot drift from the code:

    packaging/gen-man-alerts.py           # rewrite the sections in place
    packaging/gen-man-alerts.py --check   # exit 1 if a page differs from the table
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, Optional

ROOT = Path(__file__).resolve().parents[1]
MAN_DIR = ROOT / "packaging" / "man"
BEGIN = '.\\" BEGIN GENERATED ALERTS: packaging/gen-man-alerts.py writes this part; do not edit it.'
END = '.\\" END GENERATED ALERTS'
# page -> the kind whose alerts it lists (None: both)
PAGES: Dict[str, Optional[str]] = {"fswatch.8": None, "clp_sambamon.8": "samba", "clp_nfsmon.8": "nfs"}
PRIORITY = {2: "crit", 3: "err", 4: "warning", 5: "notice", 6: "info"}


def _table():
    """The alert table and the kinds (each lends its words to the texts: Kind.phrases)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from fswatch.core.alerts import ALERTS
    from fswatch.kinds import KINDS

    return ALERTS, KINDS


def escape(text: str) -> str:
    """Plain text as one troff text line: backslashes, a leading control character, dashes."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def message(template: str) -> str:
    """A seed text with its placeholders shown as the guide shows them (xxx, nn), in italics."""
    marked = template.replace("{target}", "\0xxx\1").replace("{detail}", "\0nn\1")
    return escape(marked).replace("\0", "\\fI").replace("\1", "\\fR")


def catalog_text(text: str) -> str:
    """Catalog prose names the journal fields; here the reader knows them as KIND and ID."""
    return escape(text.replace("@FSWATCH_WATCH@", "ID").replace("@FSWATCH_KIND@", "KIND"))


def section(kind: Optional[str]) -> str:
    lines = [BEGIN, ".nh"]  # no hyphenation: the texts are copied into journal filters
    alerts, kinds = _table()
    for a in sorted(alerts.values(), key=lambda a: a.id):
        texts = [(k, a.template(k)) for k in kinds.values() if (kind is None or k.name == kind) and a.concerns(k.name)]
        if not texts:
            continue
        lines += [".TP", f"\\fB{a.id}\\fR ({PRIORITY[a.priority]}) MESSAGE_ID={a.message_id}"]
        for i, (k, template) in enumerate(texts):
            if i:
                lines.append(".br")
            lines.append(f"{k.phrases['service']}: {message(template)}" if kind is None else message(template))
        lines += [".br", catalog_text(a.explanation)]
        if a.remedy != "-":
            lines += [".br", "What to do: " + catalog_text(a.remedy)]
    lines += [".hy", END]
    return "\n".join(lines)


def render(page: str, text: str) -> str:
    """``text`` (a man page) with its generated section replaced by the table's."""
    head, sep, rest = text.partition(BEGIN + "\n")
    if not sep:
        raise ValueError(f"{page}: no line {BEGIN!r}")
    _, sep, tail = rest.partition(END + "\n")
    if not sep:
        raise ValueError(f"{page}: no line {END!r} after the BEGIN marker")
    return head + section(PAGES[page]) + "\n" + tail


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report pages that differ; exit 1 if any")
    args = parser.parse_args(argv)
    stale = []
    for page in PAGES:
        path = MAN_DIR / page
        old = path.read_text(encoding="utf-8")
        new = render(page, old)
        if new != old:
            stale.append(page)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.check and stale:
        print(f"out of date (run packaging/gen-man-alerts.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
