"""The captured corpus: real replies, one file each, and manifest.json describing them.

NFS entries are whole RPC reply records (record marking removed) with the call they answer
(program, version, procedure) and a name saying what was asked. SMB entries are whole SMB2
messages (the Direct TCP frame removed), grouped into conversations: the replies of one
probe, in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "fuzz"
MANIFEST = DATA_DIR / "manifest.json"


@dataclass(frozen=True)
class RpcReply:
    name: str  # e.g. "v3-ok/mnt", "errors/mnt-wrong-export"
    program: int
    version: int
    procedure: int
    data: bytes
    path: str = ""  # the export path of the call (it shapes an NFSv4 COMPOUND's results)

    @property
    def key(self) -> Tuple[int, int, int]:
        return self.program, self.version, self.procedure


@dataclass(frozen=True)
class SmbConversation:
    name: str  # e.g. "guest-ok"
    share: str
    user: bool  # a user logon (signed: replays fail at the session stage) or guest
    replies: Tuple[bytes, ...]


@dataclass(frozen=True)
class Corpus:
    rpc: Tuple[RpcReply, ...]
    smb: Tuple[SmbConversation, ...]

    def rpc_by_key(self) -> Dict[Tuple[int, int, int], List[RpcReply]]:
        out: Dict[Tuple[int, int, int], List[RpcReply]] = {}
        for reply in self.rpc:
            out.setdefault(reply.key, []).append(reply)
        return out

    def conversation(self, name: str) -> SmbConversation:
        return next(c for c in self.smb if c.name == name)


def load(directory: Path = DATA_DIR) -> Corpus:
    manifest = json.loads((directory / "manifest.json").read_text())
    rpc = tuple(
        RpcReply(
            e["name"],
            e["program"],
            e["version"],
            e["procedure"],
            (directory / e["file"]).read_bytes(),
            e.get("path", ""),
        )
        for e in manifest["rpc"]
    )
    smb = tuple(
        SmbConversation(
            c["name"], c["share"], c["user"], tuple((directory / f).read_bytes() for f in c["files"])
        )
        for c in manifest["smb"]
    )
    if not rpc or not smb:
        raise ValueError(f"{directory}: the corpus is empty; run python -m tests.fuzz.capture")
    return Corpus(rpc, smb)
