#!/usr/bin/env python3
"""`make demo`: watch a throwaway Samba share and NFS export, stall each server, and show
the detection.

Starts a private smbd and a private rpcbind + nfs-ganesha on 127.0.0.1 (the fixtures the
tests use), adds a watch for each with interval 1 s, retries 2, timeout 2 s, runs
`fswatch run` in the foreground, freezes the server with SIGSTOP (a stalled server whose
processes are still alive, the case PID checks miss) and reports how long the watch took
against its stated bound.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.nfs_server import NfsServer  # noqa: E402
from tests.fixtures.samba_server import SambaServer  # noqa: E402

INTERVAL, RETRIES, TIMEOUT = 1, 2, 2
BOUND = INTERVAL + RETRIES * max(INTERVAL, TIMEOUT) + TIMEOUT


def say(text: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {text}", flush=True)


def fswatch(env: dict, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fswatch", *args], env=env, text=True, **kw)


def relay(stream, prefix: str) -> None:
    for line in stream:
        print(f"{prefix}{line}", end="", flush=True)


def wait_healthy(state_file: Path, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if json.loads(state_file.read_text()).get("phase") == "healthy":
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    return False


def watch_and_stall(env: dict, runtime: Path, kind: str, stall, what: str) -> bool:
    """Run the watch `kind`/demo until healthy, call stall(), report the detection time."""
    watch = subprocess.Popen(
        [sys.executable, "-m", "fswatch", "run", kind, "demo"], env=env, stderr=subprocess.PIPE, text=True
    )
    relay_thread = threading.Thread(target=relay, args=(watch.stderr, "    "), daemon=True)
    relay_thread.start()
    try:
        if not wait_healthy(runtime / kind / "demo" / "state.json", 15):
            say("the watch did not become healthy")
            return False
        time.sleep(2.5)
        fswatch(env, "status", kind)
        say(f"freezing {what} with SIGSTOP: the server is alive but answers nothing")
        fault = time.monotonic()
        stall()
        rc = watch.wait(timeout=BOUND + 10)
        detected = time.monotonic() - fault
        relay_thread.join(timeout=2)
        say(f"the {kind} watch exited with status {rc} after {detected:.2f} s")
        say(
            f"stated bound: interval + retries x max(interval, timeout) + timeout = "
            f"{INTERVAL} + {RETRIES} x {max(INTERVAL, TIMEOUT)} + {TIMEOUT} = {BOUND} s (+0.5 s slack)"
        )
        ok = rc == 1 and detected <= BOUND + 0.5
        say(f"{kind}: DETECTED within the bound" if ok else f"{kind}: NOT detected within the bound")
        return ok
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()


SCHEDULE = ("--interval", str(INTERVAL), "--retries", str(RETRIES), "--timeout", str(TIMEOUT))


def demo_samba(env: dict, runtime: Path) -> bool:
    with SambaServer() as smbd:
        say(f"started a throwaway smbd on {smbd.address}:{smbd.port} (pid {smbd.pid}), share 'public'")
        fswatch(env, "probe", "samba", "--share", "public", "--port", str(smbd.port), "--timeout", "5", check=True)
        fswatch(env, "add", "samba", "demo", "--share", "public", "--port", str(smbd.port), *SCHEDULE, check=True)
        try:
            return watch_and_stall(env, runtime, "samba", smbd.stall_all, "every smbd process")
        finally:
            smbd.resume_all()


def demo_nfs(env: dict, runtime: Path) -> bool:
    with NfsServer() as nfs:
        say(f"started a throwaway rpcbind + nfs-ganesha on {nfs.address} (ganesha pid {nfs.ganesha_pid}), "
            f"export {nfs.export_path}")
        where = ("--export", nfs.export_path, "--address", nfs.address)
        fswatch(env, "probe", "nfs", *where, "--timeout", "5", check=True)
        fswatch(env, "add", "nfs", "demo", *where, *SCHEDULE, check=True)
        try:
            return watch_and_stall(env, runtime, "nfs", nfs.stall_ganesha, "nfs-ganesha")
        finally:
            nfs.resume_ganesha()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="fswatch-demo-") as tmp:
        env = dict(os.environ)
        env.update(FSWATCH_CONFIG_DIR=f"{tmp}/etc", FSWATCH_RUNTIME_DIR=f"{tmp}/run", PYTHONPATH=str(ROOT))
        for var in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "WATCHDOG_USEC"):
            env.pop(var, None)
        samba_ok = demo_samba(env, Path(tmp) / "run")
        print(flush=True)
        nfs_ok = demo_nfs(env, Path(tmp) / "run")
        return 0 if samba_ok and nfs_ok else 1


if __name__ == "__main__":
    sys.exit(main())
