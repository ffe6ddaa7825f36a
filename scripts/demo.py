#!/usr/bin/env python3
"""`make demo`: watch a throwaway Samba share, stall the server, and show the detection.

Starts a private smbd on 127.0.0.1 (the same fixture the tests use), adds a watch with
interval 1 s, retries 2, timeout 2 s, runs `fswatch run` in the foreground, freezes every
smbd process with SIGSTOP (a stalled server whose processes are still alive, the case PID
checks miss) and reports how long the watch took against its stated bound.
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


def demo_samba(env: dict, runtime: Path) -> int:
    with SambaServer() as smbd:
        say(f"started a throwaway smbd on {smbd.address}:{smbd.port} (pid {smbd.pid}), share 'public'")
        fswatch(env, "probe", "samba", "--share", "public", "--port", str(smbd.port), "--timeout", "5", check=True)
        fswatch(
            env, "add", "samba", "demo", "--share", "public", "--port", str(smbd.port),
            "--interval", str(INTERVAL), "--retries", str(RETRIES), "--timeout", str(TIMEOUT), check=True,
        )
        watch = subprocess.Popen(
            [sys.executable, "-m", "fswatch", "run", "samba", "demo"], env=env, stderr=subprocess.PIPE, text=True
        )
        relay_thread = threading.Thread(target=relay, args=(watch.stderr, "    "), daemon=True)
        relay_thread.start()
        try:
            if not wait_healthy(runtime / "samba" / "demo" / "state.json", 15):
                say("the watch did not become healthy")
                return 1
            time.sleep(2.5)
            fswatch(env, "status")
            say("freezing every smbd process with SIGSTOP: the server is alive but answers nothing")
            fault = time.monotonic()
            smbd.stall_all()
            rc = watch.wait(timeout=BOUND + 10)
            detected = time.monotonic() - fault
            relay_thread.join(timeout=2)
            say(f"the watch exited with status {rc} after {detected:.2f} s")
            say(
                f"stated bound: interval + retries x max(interval, timeout) + timeout = "
                f"{INTERVAL} + {RETRIES} x {max(INTERVAL, TIMEOUT)} + {TIMEOUT} = {BOUND} s (+0.5 s slack)"
            )
            ok = rc == 1 and detected <= BOUND + 0.5
            say("DETECTED within the bound" if ok else "NOT detected within the bound")
            return 0 if ok else 1
        finally:
            smbd.resume_all()
            if watch.poll() is None:
                watch.kill()
                watch.wait()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="fswatch-demo-") as tmp:
        env = dict(os.environ)
        env.update(FSWATCH_CONFIG_DIR=f"{tmp}/etc", FSWATCH_RUNTIME_DIR=f"{tmp}/run", PYTHONPATH=str(ROOT))
        for var in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "WATCHDOG_USEC"):
            env.pop(var, None)
        return demo_samba(env, Path(tmp) / "run")


if __name__ == "__main__":
    sys.exit(main())
