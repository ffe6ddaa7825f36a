"""Running one watch in this process: settings, instance lock, signals, engine.

This is the body of `fswatch run KIND ID`, which the systemd units start, and of the
in-process mode of the CLUSTERPRO compatibility commands.
"""

from __future__ import annotations

import os
import sys
import time
from typing import NoReturn, Optional, Tuple

from fswatch.core.errors import SystemFault
from fswatch.host import keytabs, signals
from fswatch.host.attrd import AttributePublisher
from fswatch.host.control import Control, InstanceLock
from fswatch.host.metrics_files import RUNTIME_NAME, metrics_dir
from fswatch.host.notify import Notifier
from fswatch.host.sinks import default_sink
from fswatch.host.store import SettingsStore
from fswatch.kinds import WatchSettings
from fswatch.kinds import kind as kind_named
from fswatch.watch.engine import StopSignal, Watch
from fswatch.watch.evidence import EvidenceSampler
from fswatch.watch.inject import Injector
from fswatch.watch.metrics import MetricsWriter, WatchMetrics
from fswatch.watch.reporter import Reporter
from fswatch.watch.status import settings_record


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


def run_configured(kind: str, watch_id: str) -> NoReturn:
    """`fswatch run KIND ID`: the configured watch, in this process, until it ends; then exit."""
    settings, password = load_settings(kind, watch_id)
    exit_now(run_watch(settings, password, keytab=keytab_of(settings), source=settings_source()))


def load_settings(kind: str, watch_id: str) -> Tuple[WatchSettings, Optional[str]]:
    """The settings `fswatch run KIND ID` runs: from the config dir, which a runtime drop-in
    points at the runtime dir for a watch started by clp_*mon or an OCF agent."""
    return SettingsStore.config().load(kind_named(kind), watch_id)


def settings_source() -> str:
    """Where load_settings() reads (fswatch.host.store: CONFIG or RUNTIME), as the state file
    records it, so `fswatch status` and SIGHUP can tell whether that file says otherwise now."""
    return SettingsStore.config().source


def metrics_writer(settings: WatchSettings, control: Control) -> Optional[MetricsWriter]:
    directory = metrics_dir()
    if directory is None:  # FSWATCH_METRICS_DIR=off
        return None
    kind = settings.kind.name
    metrics = WatchMetrics(kind, settings.watch_id, settings.label, settings.schedule, time.time())
    return MetricsWriter(
        metrics, kind, settings.watch_id, directory, write=lambda text: control.write_file(RUNTIME_NAME, text)
    )


def keytab_of(settings: WatchSettings) -> Optional[str]:
    """The keytab file a watch run by `fswatch run` logs on with (fswatch.host.keytabs); None
    for a watch without Kerberos, whatever its unit passed."""
    if not settings.kind.takes_keytab or not settings.target.get("principal"):
        return None
    return keytabs.of_watch(SettingsStore.config().keytab_path(settings.kind.name, settings.watch_id))


def run_watch(
    settings: WatchSettings,
    password: Optional[str],
    *,
    keytab: Optional[str] = None,
    sink=None,
    notifier: Optional[Notifier] = None,
    stop: Optional[StopSignal] = None,
    publisher: Optional[AttributePublisher] = None,
    source: Optional[str] = None,
) -> int:
    """Run the watch in the foreground until stopped (0) or declared failed (1); in health
    attribute mode (settings.attribute) it publishes its verdicts and runs until stopped, and
    so does a watch for CTDB (settings.ctdb), whose verdict CTDB's monitor event reads.
    `source`: where the settings were read (settings_source()); None for a command line.

    A second watch of the same kind and ID raises WatchBusy (alert 14) before anything
    of the first one is touched. `keytab`: the file a Kerberos watch logs on with.
    """
    spec = settings.kind
    spec.check_logon(settings.target, password, keytab is not None)
    control = Control.of(spec.name, settings.watch_id)
    lock = InstanceLock(control)
    stop = stop or StopSignal()
    # Handlers first: once the lock is held, others see this watch (-disp, -stop), and a
    # SIGTERM must then end it cleanly (alert 3, exit 0), a SIGHUP must not end it at all
    # (fswatch.host.signals). Outside the main thread nothing is set: the caller owns `stop`.
    restore = signals.install(lambda _: stop.request(), lambda _: stop.request_report())
    try:
        lock.acquire()
        try:
            control.hold()  # the lock makes the directory this watch's: one descriptor for its life
            control.request_continue()  # a pause ends with the watch that had it (SPEC.md section 5)
            control.clear_injection()  # and so does an injected failure (fswatch.watch.inject)
            control.clear_credentials()  # tickets of an earlier run never answer for this one
            ccache = str(control.credential_cache)
            target = spec.make_target(settings.target, password, settings.watch_id, keytab=keytab, ccache=ccache)
            probe = spec.probe_function()
            reporter = Reporter(
                spec,
                settings.watch_id,
                settings.label,
                settings.schedule,
                sink or default_sink(),
                notifier or Notifier.from_env(),
                control,
                publisher=publisher or (AttributePublisher(settings.attribute) if settings.attribute else None),
                metrics=metrics_writer(settings, control),
                settings=settings_record(settings, source),
            )
            # Evidence and injection wrap the probe function: the probes never know about them
            # (fswatch.watch.evidence, fswatch.watch.inject). An injected failure contacts no
            # server, so it is outside the sampling.
            sampler = EvidenceSampler(settings.schedule, unavailable=reporter.unavailable, servers=spec.servers)
            injector = Injector(control, spec, settings.schedule.attempts, reporter.injection_changed)
            watch = Watch(
                settings.schedule,
                injector.wrap(sampler.wrap(lambda deadline: probe(target, deadline))),
                reporter,
                control,
                stop,
                keep_probing=settings.keeps_probing,
            )
            return watch.run()
        except OSError as exc:
            raise SystemFault("watch", exc.errno or 0, str(exc)) from exc
        finally:
            control.request_continue()
            control.clear_injection()
            control.clear_credentials()
            control.let_go()
            lock.release()
    finally:
        restore()
