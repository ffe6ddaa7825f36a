"""Sections of RESULTS.md that other benches own (bench/fuzz), kept when bench/run rewrites the file.

A section is the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->`.
"""

from __future__ import annotations

import re
from pathlib import Path

_SECTION = re.compile(r"<!-- (?P<name>[a-z]+):begin -->\n.*?<!-- (?P=name):end -->\n", re.S)


def kept(path: Path) -> str:
    """Every owned section of the file at `path`, in order ("" if none or no file)."""
    try:
        text = path.read_text()
    except OSError:
        return ""
    return "".join("\n" + m.group(0) for m in _SECTION.finditer(text))


def replace(path: Path, name: str, body: str) -> None:
    """Put `body` as section `name` into the file at `path`: in its old place, else at the end."""
    block = f"<!-- {name}:begin -->\n{body.rstrip()}\n<!-- {name}:end -->\n"
    try:
        text = path.read_text()
    except FileNotFoundError:
        text = ""
    pattern = re.compile(rf"<!-- {name}:begin -->\n.*?<!-- {name}:end -->\n", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block
    path.write_text(text)
