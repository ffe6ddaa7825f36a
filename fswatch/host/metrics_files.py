"""Where a watch's Prometheus metrics are published, for node_exporter's textfile collector.

The watch writes its metrics (fswatch.watch.metrics) to <runtime dir>/<kind>/<ID>/metrics.prom;
node_exporter reads <metrics dir>/fswatch_<kind>_<ID>.prom, a symbolic link to that file.

Why a link and not the file itself: the textfile directory belongs to root (mode 0755 in
Debian's prometheus-node-exporter), and the hardened units run as the unprivileged user
fswatch, who cannot create files there; the runtime directory is the watch's own, and
node_exporter (an unprivileged user too) can read it. The unit makes the link with a
privileged `ExecStartPre=+fswatch metrics publish`. A watch writes its last state itself
("stopped", or "failed") as it ends; when the unit fails, its `OnFailure=` unit
(fswatch-settle@) runs `fswatch metrics settle UNIT`, which replaces the link by a copy of
the last state marked failed: a watch killed by its watchdog could not say so. That runs
once the unit is failed already, so it never delays the failure the cluster acts on. At
boot, systemd-tmpfiles removes fswatch's files from the textfile directories (fswatch.conf
in tmpfiles.d): a link into /run would dangle (node_exporter counts that as a scrape
error), and a copy would describe a watch from before the reboot. A watch that runs
outside a unit with the rights to do so publishes and settles itself. Forgetting a watch
(fswatch.host.supervisor) removes both files.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Optional

from fswatch.core.errors import SystemFault
from fswatch.host import paths
from fswatch.host.atomic import write_atomic

if TYPE_CHECKING:
    from fswatch.host.systemctl import Systemctl

# Debian's prometheus-node-exporter reads this directory by default (its built-in
# --collector.textfile.directory). RHEL has no node_exporter of its own; the upstream
# example unit (used by the common RPM builds) reads /var/lib/node_exporter/textfile_collector:
# set FSWATCH_METRICS_DIR there (see README, "Metrics").
DEFAULT_DIR = "/var/lib/prometheus/node-exporter"
RHEL_DIR = "/var/lib/node_exporter/textfile_collector"
OFF = "off"
RUNTIME_NAME = "metrics.prom"


def metrics_dir(environ: Optional[Dict[str, str]] = None) -> Optional[Path]:
    """The textfile directory from FSWATCH_METRICS_DIR (default Debian's); None when "off"."""
    value = (os.environ if environ is None else environ).get("FSWATCH_METRICS_DIR") or DEFAULT_DIR
    return None if value == OFF else Path(value)


def published_name(kind: str, watch_id: str) -> str:
    return f"fswatch_{kind}_{watch_id}.prom"


def runtime_file(kind: str, watch_id: str) -> Path:
    return paths.watch_runtime_dir(kind, watch_id) / RUNTIME_NAME


def error_text(exc: Exception) -> str:
    """strerror of an OSError, or of write_atomic's translation of one (alert 42's facts)."""
    if isinstance(exc, SystemFault):
        return os.strerror(exc.errno) if exc.errno else str(exc)
    return getattr(exc, "strerror", None) or str(exc)


def _same_link(link: Path, target: Path) -> bool:
    try:
        return os.readlink(link) == str(target)
    except OSError:
        return False


def publish(kind: str, watch_id: str, directory: Optional[Path], placeholder: bool = False) -> Optional[str]:
    """Make <directory>/fswatch_<kind>_<ID>.prom a link to the watch's runtime file.

    None when done or nothing to do (metrics off, or no textfile directory: node_exporter
    is not installed); else a one-line reason. Replaced atomically (a temp link renamed
    over it), so a scrape sees the old file or the new link, never no file. With
    `placeholder` (the unit, before the watch runs) a missing runtime file is created
    empty, which node_exporter reads as no metrics, so the link never dangles.
    """
    if directory is None or not directory.is_dir():
        return None
    source = runtime_file(kind, watch_id)
    link = directory / published_name(kind, watch_id)
    if _same_link(link, source):
        return None
    tmp = directory / f".{link.name}.link"  # not *.prom: the collector ignores it
    try:
        if placeholder and not source.exists():
            source.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            write_atomic(source, "", mode=0o644, durable=False)
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        os.symlink(source, tmp)
        os.replace(tmp, link)
    except (OSError, SystemFault) as exc:
        return f"cannot publish {link}: {error_text(exc)}"
    return None


def settle(kind: str, watch_id: str, directory: Optional[Path], failed: bool = False) -> Optional[str]:
    """After the watch ended: replace the link by a plain copy of its last metrics (a
    link into /run would dangle after a reboot). `failed` (the unit failed, e.g. killed by
    its watchdog) marks a state the watch could not write itself as failed."""
    if directory is None or not directory.is_dir():
        return None
    link = directory / published_name(kind, watch_id)
    try:
        text = _read_runtime(runtime_file(kind, watch_id))
    except FileNotFoundError:
        text = None
    except (OSError, ValueError) as exc:
        return f"cannot read {runtime_file(kind, watch_id)}: {error_text(exc)}"
    try:
        if text is None:
            if link.is_symlink():
                link.unlink()
            return None
        write_atomic(link, ended(text, "failed" if failed else "stopped"), durable=False)
    except (OSError, SystemFault) as exc:  # inside a unit: EROFS, the directory is not the watch's
        return f"cannot settle {link}: {error_text(exc)}"
    return None


MAX_FILE_BYTES = 1 << 20


def _read_runtime(path: Path) -> str:
    """The runtime file, read as root from a directory the sandboxed watch owns: so no
    symbolic link (O_NOFOLLOW), no FIFO or device, bounded, and only fswatch's own series,
    lest a subverted watch make root copy a file it may not read into a world-readable place."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        raw = os.read(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
    text = raw.decode("utf-8")
    if any(not line.startswith(("fswatch_", "# HELP fswatch_", "# TYPE fswatch_")) for line in text.splitlines()):
        raise ValueError("not fswatch metrics")
    return text


# Compiled at first use (re caches it): only `fswatch metrics settle` needs it, not a watch.
_STATE_LINE = r'(?m)^(fswatch_watch_state\{.*,state=")([a-z]+)("\}) [01]$'


def ended(text: str, state: str) -> str:
    """The metrics of a watch that is no longer running: its state cannot stay
    starting/healthy/degraded/failing/paused. A watch that said failed or stopped keeps that."""
    current = [m.group(2) for m in re.finditer(_STATE_LINE, text) if m.group(0).endswith(" 1")]
    if current and current[0] in ("failed", "stopped"):
        return text
    return re.sub(_STATE_LINE, lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)} {int(m.group(2) == state)}", text)


def forget(kind: str, watch_id: str) -> None:
    """Remove a watch's metrics (fswatch remove, reset, clp -del): the published file or
    link, and the runtime file. Only fswatch's own name is touched."""
    directory = metrics_dir()
    targets = [runtime_file(kind, watch_id)]
    if directory is not None:
        targets.append(directory / published_name(kind, watch_id))
    for path in targets:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise


def settle_failed_unit(unit: str, systemctl: Optional[Systemctl] = None) -> Optional[str]:
    """fswatch-settle@UNIT: UNIT (a watch's unit) has failed. Its textfile directory is the
    one its own environment names (a drop-in may set FSWATCH_METRICS_DIR); a unit already
    started again is left alone, lest its live link be replaced by a stale copy."""
    # Here, not at the top: a watch imports this module to publish its own file, never this.
    from fswatch.host.systemctl import RUNNING_PROPERTIES, Systemctl, running_in, watch_of_unit

    kind, watch_id = watch_of_unit(unit)
    shown = (systemctl or Systemctl()).show(unit, *RUNNING_PROPERTIES, "Environment")
    if running_in(shown):
        return None
    import shlex  # here: only `fswatch metrics settle` needs it, not a watch

    try:
        environ = dict(item.partition("=")[::2] for item in shlex.split(shown.get("Environment", "")))
    except ValueError:  # unbalanced quotes: systemd would not print them; take the default
        environ = {}
    return settle(kind, watch_id, metrics_dir(environ), failed=True)
