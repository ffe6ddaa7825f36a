"""Re-capture the fuzz corpus from real servers: `python -m tests.fuzz.capture` (as root).

Starts the integration tier's real nfs-ganesha + rpcbind (in a network namespace) and smbd
(tests/fixtures/), runs fswatch's own probes and a few calls that draw error answers, and
writes every reply into tests/data/fuzz/ with manifest.json. NFS replies are recorded at
fswatch's RPC client (each reassembled reply record, exactly as the server sent it); SMB
replies through a recording TCP proxy in front of smbd. Nothing is made up: every byte in
the corpus came from a real server.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

from fswatch.core.deadline import Deadline
from fswatch.probes.nfs import NfsTarget, probe_nfs
from fswatch.probes.samba import SambaTarget, probe_samba
from fswatch.rpc import mount, nfs3, portmap
from fswatch.rpc.client import RpcClient
from fswatch.rpc.errors import RpcError
from fswatch.rpc.message import AUTH_NULL, auth_sys
from fswatch.rpc.transport import TcpTransport
from tests.fixtures.netfaults import JOIN_TIMEOUT, FaultServer, netbios_records
from tests.fixtures.nfs_server import NfsServer
from tests.fixtures.samba_server import SambaServer
from tests.fuzz.corpus import DATA_DIR

Captured = Tuple[str, int, int, int, bytes]


class _RpcRecorder:
    """Wraps RpcClient.call so every reply record a call receives is kept, with its call."""

    def __init__(self) -> None:
        self.label = ""
        self.replies: List[Captured] = []
        self._original = RpcClient.call

    def __enter__(self) -> _RpcRecorder:
        recorder = self

        def call(client: RpcClient, program: int, version: int, procedure: int, args: bytes, deadline: Deadline):
            records: List[bytes] = []
            recv = client.transport.recv

            def keep(dl: Deadline) -> bytes:
                record = recv(dl)
                records.append(record)
                return record

            client.transport.recv = keep  # type: ignore[method-assign]
            try:
                return recorder._original(client, program, version, procedure, args, deadline)
            finally:
                del client.transport.recv
                if records:
                    recorder.replies.append((recorder.label, program, version, procedure, records[-1]))

        RpcClient.call = call  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        RpcClient.call = self._original  # type: ignore[method-assign]


class RecordingProxy(FaultServer):
    """Forwards a TCP connection to `upstream` both ways and keeps the server's SMB messages per connection."""

    def __init__(self, upstream: Tuple[str, int]) -> None:
        self.upstream = upstream
        self.conversations: List[List[bytes]] = []
        super().__init__()

    def handle(self, client: socket.socket) -> None:
        server = self._track(socket.create_connection(self.upstream, timeout=JOIN_TIMEOUT))
        replies: List[bytes] = []
        self.conversations.append(replies)
        self._spawn(self._pump, client, server, None)
        self._pump(server, client, replies)

    def _pump(self, src: socket.socket, dst: socket.socket, keep) -> None:
        src.settimeout(0.05)
        buffer = bytearray()
        while not self.closed:
            try:
                data = src.recv(65536)
            except socket.timeout:
                continue
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            dst.sendall(data)
            if keep is not None:
                buffer += data
                keep.extend(record[4:] for record in netbios_records(buffer))


def capture_nfs(paths: Dict[str, str]) -> List[Captured]:
    with NfsServer(netns=True) as server, _RpcRecorder() as rec:
        address, export = server.address, server.export_path
        for label, target in (
            ("v3-tcp", NfsTarget(export, address)),
            ("v3-udp", NfsTarget(export, address, transport="udp")),
            ("v4", NfsTarget(export, address, version=4, minor_version=0)),
            ("v3-wrong-export", NfsTarget(export + "-missing", address)),
            ("v4-wrong-path", NfsTarget(export + "/missing", address, version=4, minor_version=0)),
        ):
            rec.label = label
            paths[label] = target.export
            obs = probe_nfs(target, Deadline.after(5))
            print(f"nfs {label}: {'ok' if obs.ok else obs.failure.fields()}", file=sys.stderr)
        # Error answers a probe can meet, drawn by calls of our own.
        deadline = Deadline.after(5)
        with RpcClient(TcpTransport.connect(address, portmap.PORT, deadline), auth_sys()) as pmap:
            rec.label = "getport-unregistered"
            results = pmap.call(portmap.PROGRAM, portmap.VERSION, portmap.PROC_GETPORT,
                                portmap.encode_getport_args(100099, 1, "tcp"), deadline)  # fmt: skip
            assert portmap.decode_getport_result(results) == 0
        with RpcClient(TcpTransport.connect(address, server.nfs_port, deadline), auth_sys()) as nfs:
            for label, version, procedure, args in (
                ("nfs-v2-mismatch", 2, 0, b""),
                ("getattr-bad-handle", 3, nfs3.PROC_GETATTR, nfs3.encode_fh(b"\x01" * 16)),
                ("fsstat-bad-handle", 3, nfs3.PROC_FSSTAT, nfs3.encode_fh(b"\x01" * 16)),
                ("proc-unavail", 3, 99, b""),
            ):
                rec.label = label
                try:
                    nfs.call(nfs3.PROGRAM, version, procedure, args, deadline)
                except RpcError:
                    pass
        with RpcClient(TcpTransport.connect(address, server.nfs_port, deadline), AUTH_NULL) as weak:
            rec.label = "getattr-auth-none"
            try:
                weak.call(nfs3.PROGRAM, 3, nfs3.PROC_GETATTR, nfs3.encode_fh(b"\x01" * 16), deadline)
            except RpcError:
                pass
        with RpcClient(TcpTransport.connect(address, server.mount_port, deadline), auth_sys()) as mnt:
            rec.label = "mnt-garbage-args"
            try:
                mnt.call(mount.PROGRAM, mount.VERSION, mount.PROC_MNT, b"\xff\xff\xff\xff", deadline)
            except RpcError:
                pass
        return rec.replies


def capture_smb() -> List[Tuple[str, str, bool, List[bytes]]]:
    out = []
    with SambaServer() as server, RecordingProxy((server.address, server.port)) as proxy:
        for name, share, user, password in (
            ("guest-ok", "public", None, None),
            ("guest-wrong-share", "nosuchshare", None, None),
            ("guest-ipc", "IPC$", None, None),
            ("user-ok", "private", server.user, server.password),
            ("user-wrong-password", "private", server.user, "wrong-password"),
        ):
            before = len(proxy.conversations)
            obs = probe_samba(SambaTarget(share, proxy.address, proxy.port, user, password), Deadline.after(5))
            print(f"smb {name}: {'ok' if obs.ok else obs.failure.fields()}", file=sys.stderr)
            replies = proxy.conversations[before] if len(proxy.conversations) > before else []
            _settle(replies)
            out.append((name, share, user is not None, list(replies)))
    return out


def _settle(replies: List[bytes], quiet: float = 0.3, limit: float = 3.0) -> None:
    """Wait until the proxy has passed on the last replies: the probe may return before the
    proxy's thread recorded them (the logoff's answer, a failed session setup's)."""
    end = time.monotonic() + limit
    seen, since = len(replies), time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.05)
        if len(replies) != seen:
            seen, since = len(replies), time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


def write(directory: Path, rpc: List[Captured], smb, paths: Dict[str, str]) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    (directory / "nfs").mkdir(parents=True)
    (directory / "smb").mkdir()
    manifest: Dict[str, list] = {"rpc": [], "smb": []}
    for i, (label, program, version, procedure, data) in enumerate(rpc):
        file = f"nfs/{i:02d}-{label}-{program}-{version}-{procedure}.bin"
        (directory / file).write_bytes(data)
        entry = {"name": f"{label}/{program}.{version}.{procedure}", "program": program,
                 "version": version, "procedure": procedure, "file": file}  # fmt: skip
        if label in paths:
            entry["path"] = paths[label]  # the NFSv4 COMPOUND's results follow the path's components
        manifest["rpc"].append(entry)
    for name, share, user, replies in smb:
        files = []
        for i, data in enumerate(replies):
            file = f"smb/{name}-{i:02d}.bin"
            (directory / file).write_bytes(data)
            files.append(file)
        manifest["smb"].append({"name": name, "share": share, "user": user, "files": files})
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DATA_DIR)
    args = parser.parse_args()
    paths: Dict[str, str] = {}
    rpc = capture_nfs(paths)
    smb = capture_smb()
    write(args.output, rpc, smb, paths)
    print(f"wrote {len(rpc)} RPC replies and {sum(len(c[3]) for c in smb)} SMB replies "
          f"in {len(smb)} conversations to {args.output}", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
