"""One soak load client: writes, reads back, checks and deletes files through smbd or ganesha.

A process of its own (`python soakclient.py smb|nfs ...`), so the clients' Python work does not
share the soak controller's GIL. It loops until `--seconds` have passed or SIGTERM comes, and
writes what it did to `--out` (JSON) every few seconds and at the end. Userspace clients only
(no kernel mount here): SMB through smbprotocol's high-level smbclient API, NFSv3 through
fswatch's own ONC RPC client and bench/nfs3rw.py. Every operation is bounded: NFS calls by a
Deadline, SMB by the connection's timeout; a stalled server holds a client until it answers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

OP_DEADLINE = 30.0  # seconds for one NFS call (a stall holds a client until it is lifted)
SAVE_EVERY = 5.0  # seconds between writes of the stats file
ERROR_PAUSE = 0.2  # seconds to wait after a failed operation before the next
CHUNK = 64 * 1024


class Stats:
    def __init__(self, out: Path, name: str) -> None:
        self.out = out
        self.name = name
        self.ops: List[List[float]] = []  # [wall start, ms, ok]
        self.bytes = 0
        self.errors: Dict[str, int] = {}
        self._saved = time.monotonic()

    def record(self, began_wall: float, ms: float, ok: bool, nbytes: int = 0, error: str = "") -> None:
        self.ops.append([round(began_wall, 3), round(ms, 2), 1 if ok else 0])
        self.bytes += nbytes
        if error:
            self.errors[error] = self.errors.get(error, 0) + 1
        if time.monotonic() - self._saved > SAVE_EVERY:
            self.save()

    def save(self) -> None:
        tmp = self.out.with_suffix(".tmp")
        tmp.write_text(json.dumps({"name": self.name, "ops": self.ops, "bytes": self.bytes, "errors": self.errors}))
        os.replace(tmp, self.out)
        self._saved = time.monotonic()


def smb_cycle(args, rng: random.Random) -> Callable[[str], int]:
    import smbclient

    smbclient.register_session(
        args.address,
        username=args.user,
        password=os.environ.get("SOAK_PASSWORD"),
        port=args.port,
        connection_timeout=int(OP_DEADLINE),
    )

    def cycle(name: str) -> int:
        path = rf"\\{args.address}\{args.share}\{name}"
        data = rng.randbytes(rng.randrange(1, 8) * CHUNK)
        with smbclient.open_file(path, mode="wb", port=args.port) as f:
            for i in range(0, len(data), CHUNK):
                f.write(data[i : i + CHUNK])
        with smbclient.open_file(path, mode="rb", port=args.port) as f:
            back = f.read()
        smbclient.remove(path, port=args.port)
        if back != data:
            raise ValueError("read back differs")
        return 2 * len(data)

    return cycle


def nfs_cycle(args, rng: random.Random) -> Callable[[str], int]:
    import nfs3rw

    from fswatch.core.deadline import Deadline
    from fswatch.rpc import mount
    from fswatch.rpc.client import RpcClient
    from fswatch.rpc.message import auth_sys
    from fswatch.rpc.transport import open_transport

    state: Dict[str, object] = {}

    def connect() -> None:
        deadline = Deadline.after(OP_DEADLINE)
        with RpcClient(open_transport("tcp", args.address, args.mount_port, deadline), auth_sys()) as mnt:
            state["root"] = mount.mnt(mnt, args.export, deadline).fhandle
        state["nfs"] = RpcClient(open_transport("tcp", args.address, args.port, deadline), auth_sys())

    def cycle(name: str) -> int:
        if "nfs" not in state:
            connect()
        nfs, root = state["nfs"], state["root"]
        try:
            data = rng.randbytes(rng.randrange(1, 8) * CHUNK)
            fh = nfs3rw.create(nfs, root, name, Deadline.after(OP_DEADLINE))
            for i in range(0, len(data), CHUNK):
                nfs3rw.write(nfs, fh, i, data[i : i + CHUNK], Deadline.after(OP_DEADLINE))
            back = b""
            while len(back) < len(data):  # bounded: each READ returns data or the loop breaks
                chunk = nfs3rw.read(nfs, fh, len(back), CHUNK, Deadline.after(OP_DEADLINE))
                if not chunk:
                    break
                back += chunk
            nfs3rw.remove(nfs, root, name, Deadline.after(OP_DEADLINE))
        except BaseException:
            state.pop("nfs").close()  # a fresh connection after any failure
            raise
        if back != data:
            raise ValueError("read back differs")
        return 2 * len(data)

    return cycle


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soakclient.py")
    parser.add_argument("protocol", choices=("smb", "nfs"))
    parser.add_argument("--name", required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--share")
    parser.add_argument("--user")
    parser.add_argument("--export")
    parser.add_argument("--mount-port", type=int)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pause", type=float, default=0.0, help="mean seconds between cycles (0..2x, random)")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    stats = Stats(args.out, args.name)

    def on_term(*_: object) -> None:
        stats.save()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    stop_at = time.monotonic() + args.seconds
    cycle = None
    n = 0
    while time.monotonic() < stop_at:  # bounded by --seconds (and by SIGTERM)
        n += 1
        began, t0 = time.time(), time.monotonic()
        try:
            if cycle is None:
                cycle = (smb_cycle if args.protocol == "smb" else nfs_cycle)(args, rng)
            nbytes = cycle(f"soak-{args.name}-{n % 16}")
        except Exception as exc:  # any failure is data for the record; the loop goes on
            stats.record(began, (time.monotonic() - t0) * 1000.0, False, error=type(exc).__name__)
            if args.protocol == "smb":
                cycle = None
                try:
                    import smbclient

                    smbclient.reset_connection_cache()
                except Exception:  # a dead connection may fail to close: it is dropped anyway
                    pass
            time.sleep(ERROR_PAUSE)
            continue
        stats.record(began, (time.monotonic() - t0) * 1000.0, True, nbytes)
        if args.pause:
            time.sleep(rng.uniform(0.0, 2.0 * args.pause))
    stats.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
