"""Running one watch in this process: settings, instance lock, signals, engine.

This is the body of `fswatch run KIND ID`, which the systemd units start, and of the
in-process mode of the CLUSTERPRO compatibility commands.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import NoReturn, Optional, Tuple

from fswatch import files, paths
from fswatch.attribute import AttributePublisher
from fswatch.control import Control, InstanceLock, holder
from fswatch.engine import StopSignal, Watch
from fswatch.errors import SystemFault, UsageError, WatchBusy
from fswatch.kinds import kind as kind_named
from fswatch.metrics import MetricsWriter, WatchMetrics, metrics_dir
from fswatch.notify import Notifier
from fswatch.reporter import Reporter
from fswatch.settings import Schedule, WatchSettings, check_attribute, check_id, check_password, parse_conf
from fswatch.sinks import default_sink


def control_for(kind: str, watch_id: str) -> Control:
    return Control(paths.watch_runtime_dir(kind, check_id(watch_id)))


def stopped_control(kind: str, watch_id: str, why: str) -> Control:
    """The control directory of a watch that must not be running; WatchBusy (14) if it is."""
    control = control_for(kind, watch_id)
    pid = holder(control)
    if pid is not None:
        raise WatchBusy(f"{kind} watch {watch_id} is running (pid {pid}); {why}")
    return control


def exit_now(code: int) -> NoReturn:
    """End the process with `code` at once, once its watch has ended (verdict logged,
    state written, lock released): systemd and CLUSTERPRO's PID monitor act on the exit.

    Skips the interpreter's teardown of its modules, which took 0.2-0.5 s on a loaded
    2-core node (measured at load 11-26): most of the 0.5 s slack of the detection bound
    (SPEC.md section 2). Nothing is lost: alerts are sent synchronously and the streams
    are flushed here.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing more to say there
            pass
    os._exit(code)


def read_password(path: Path, follow: bool = False) -> Optional[str]:
    """A password file's first line (a trailing newline is not part of the password);
    None for an empty file, which is how a guest watch says it has no password.

    `follow`: the user named this file (--password-file), so a link to it is taken;
    fswatch's own password files are read without following links."""
    data = files.read_bounded(path, files.PASSWORD_LIMIT, what="password file", follow=follow)
    if data is None:
        raise UsageError(f"password file {path} does not exist")
    return password_from_bytes(data.split(b"\n", 1)[0], f"the password in {path}")


def password_from_bytes(line: bytes, where: str) -> Optional[str]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not valid UTF-8 text: refused") from None
    return check_password(text, where) or None


def load_settings(kind: str, watch_id: str) -> Tuple[WatchSettings, Optional[str]]:
    """The watch's settings and password; the password comes from systemd's credential
    directory when the unit passed one (LoadCredential=), else from the 0600 file."""
    check_id(watch_id)
    spec = kind_named(kind)
    conf = paths.conf_path(kind, watch_id)
    text = files.read_text(conf, files.CONFIG_LIMIT, what="config file")
    if text is None:
        raise UsageError(f"no {kind} watch {watch_id!r}: {conf} does not exist (see fswatch add)")
    values = parse_conf(text, str(conf))
    for key in ("kind", "id"):
        expected = kind if key == "kind" else watch_id
        if values.pop(key, expected) != expected:
            raise UsageError(f"{conf}: {key} does not match the file's place")
    schedule = Schedule.parse(values.pop("interval", 30), values.pop("retries", 5), values.pop("timeout", 60))
    attribute = values.pop("attribute", None)
    attribute = check_attribute(attribute) if attribute else None
    target = spec.check_target(values)
    password = None
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    candidates = [Path(credentials) / "password"] if credentials else []
    candidates.append(paths.password_path(kind, watch_id))
    for candidate in candidates:
        data = files.read_bounded(candidate, files.PASSWORD_LIMIT, what="password file")
        if data is not None:
            password = password_from_bytes(data.split(b"\n", 1)[0], f"the password in {candidate}")
            break
    settings = WatchSettings(kind, watch_id, schedule, target, has_password=bool(password), attribute=attribute)
    return settings, password


def metrics_writer(settings: WatchSettings, label: str) -> Optional[MetricsWriter]:
    directory = metrics_dir()
    if directory is None:  # FSWATCH_METRICS_DIR=off
        return None
    metrics = WatchMetrics(settings.kind, settings.watch_id, label, settings.schedule, time.time())
    return MetricsWriter(metrics, settings.kind, settings.watch_id, directory)


def run_watch(
    settings: WatchSettings,
    password: Optional[str],
    *,
    sink=None,
    notifier: Optional[Notifier] = None,
    stop: Optional[StopSignal] = None,
    publisher: Optional[AttributePublisher] = None,
) -> int:
    """Run the watch in the foreground until stopped (0) or declared failed (1); in health
    attribute mode (settings.attribute) it publishes its verdicts and runs until stopped.

    A second watch of the same kind and ID raises WatchBusy (alert 14) before anything
    of the first one is touched.
    """
    spec = kind_named(settings.kind)
    control = control_for(settings.kind, settings.watch_id)
    lock = InstanceLock(control)
    stop = stop or StopSignal()
    # Handlers first: once the lock is held, others see this watch (-disp, -stop), and a
    # SIGTERM must then end it cleanly (alert 3, exit 0), not by the default action.
    # Signal handlers can only be set from the main thread; elsewhere the caller owns `stop`.
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)} if main else {}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.request())
    try:
        lock.acquire()
        try:
            control.request_continue()  # a pause ends with the watch that had it (SPEC.md section 5)
            target = spec.make_target(settings.target, password)
            probe = spec.probe_function()
            reporter = Reporter(
                spec,
                settings.watch_id,
                spec.label(settings.target),
                settings.schedule,
                sink or default_sink(),
                notifier or Notifier.from_env(),
                control,
                publisher=publisher or (AttributePublisher(settings.attribute) if settings.attribute else None),
                metrics=metrics_writer(settings, spec.label(settings.target)),
            )
            watch = Watch(
                settings.schedule,
                lambda deadline: probe(target, deadline),
                reporter,
                control,
                stop,
                keep_probing=settings.attribute is not None,
            )
            return watch.run()
        except OSError as exc:
            raise SystemFault("watch", exc.errno or 0, str(exc)) from exc
        finally:
            control.request_continue()
            lock.release()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
