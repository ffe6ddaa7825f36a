"""Where a watch's settings are kept: <root>/<kind>/<ID>.conf, and <ID>.password (0600)
for a kind that logs on, and <ID>.keytab (0600) for a Kerberos watch (fswatch.host.keytabs).

Two roots hold them: the config dir (/etc/fswatch, `fswatch add`), and the runtime dir
(/run/fswatch) for the watches whose settings come from a command line or the cluster
(clp_*mon, the OCF agents), which live for this boot only; a runtime drop-in then points the
unit's FSWATCH_CONFIG_DIR there (fswatch.host.supervisor). Files are written atomically in
<root>/<kind> opened without following links below the root (fswatch.host.files.open_tree), and
deleted by name there, so a planted link can redirect neither.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

from fswatch.core.errors import UsageError
from fswatch.core.settings import check_id, parse_conf
from fswatch.host import files, passwords, paths
from fswatch.host.atomic import write_atomic
from fswatch.kinds import Kind, WatchSettings, build

# Which of the two roots a watch's settings came from, as its state file records it
# (fswatch.watch.status): a name, never a path, so a reader finds the file in its own roots.
CONFIG, RUNTIME = "config", "runtime"


class SettingsStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def config(cls) -> SettingsStore:
        return cls(paths.config_dir())

    @classmethod
    def runtime(cls) -> SettingsStore:
        return cls(paths.runtime_dir())

    @classmethod
    def named(cls, source: str) -> SettingsStore:
        """The store CONFIG or RUNTIME."""
        return cls.runtime() if source == RUNTIME else cls.config()

    @property
    def source(self) -> str:
        """RUNTIME when this is the runtime dir (a watch a drop-in or an OCF agent points
        there), else CONFIG."""
        return RUNTIME if self.root == paths.runtime_dir() else CONFIG

    def conf_path(self, kind: str, watch_id: str) -> Path:
        return self.root / kind / f"{check_id(watch_id)}.conf"

    def password_path(self, kind: str, watch_id: str) -> Path:
        return self.root / kind / f"{check_id(watch_id)}.password"

    def keytab_path(self, kind: str, watch_id: str) -> Path:
        return self.root / kind / f"{check_id(watch_id)}.keytab"

    def write(self, settings: WatchSettings, password: Optional[str] = None, keytab: Optional[bytes] = None) -> Path:
        """The settings (0644) and, for a kind that logs on, the password (0600): always,
        empty for a guest watch, since the unit's LoadCredential= fails on a missing file;
        and the keytab (0600) of a Kerberos watch, whose unit falls back to an empty credential
        (SetCredential=), so a watch without one has none (an old one is removed).
        The secrets first, so settings never name a secret that is not there yet."""
        kind, watch_id = settings.kind.name, settings.watch_id
        fd = files.open_tree(self.root, [kind], create=True)
        assert fd is not None
        try:
            if settings.kind.takes_password:
                write_atomic(f"{watch_id}.password", (password or "") + "\n", mode=0o600, dir_fd=fd)
            if keytab is not None:
                write_atomic(f"{watch_id}.keytab", keytab, mode=0o600, dir_fd=fd)
            else:
                _unlink(fd, f"{watch_id}.keytab", self.root / kind)
            write_atomic(f"{watch_id}.conf", settings.to_conf(), mode=0o644, dir_fd=fd)
        finally:
            os.close(fd)
        return self.conf_path(kind, watch_id)

    def write_password(self, kind: Kind, watch_id: str, password: Optional[str]) -> Path:
        """The password alone (0600): clp_*mon moves -p out of its argv into it before the
        settings are written (fswatch.surfaces.clp)."""
        fd = files.open_tree(self.root, [kind.name], create=True)
        assert fd is not None
        try:
            write_atomic(f"{check_id(watch_id)}.password", (password or "") + "\n", mode=0o600, dir_fd=fd)
        finally:
            os.close(fd)
        return self.password_path(kind.name, watch_id)

    def load(
        self, kind: Kind, watch_id: str, environ: Mapping[str, str] = os.environ
    ) -> Tuple[WatchSettings, Optional[str]]:
        """The watch's settings and password (fswatch.host.passwords.of_watch); UsageError for a
        file that does not exist or does not describe this kind and ID."""
        values = self._values(kind, watch_id)
        password = passwords.of_watch(self.password_path(kind.name, watch_id), environ)
        return build(kind, watch_id, values, has_password=bool(password)), password

    def read(self, kind: Kind, watch_id: str, has_password: bool) -> WatchSettings:
        """The settings file alone (its password is not read: `has_password` stands for it)."""
        return build(kind, watch_id, self._values(kind, watch_id), has_password=has_password)

    def _values(self, kind: Kind, watch_id: str) -> Dict[str, str]:
        conf = self.conf_path(kind.name, watch_id)
        text = files.read_text(conf, files.CONFIG_LIMIT, what="config file")
        if text is None:
            raise UsageError(f"no {kind.name} watch {watch_id!r}: {conf} does not exist (see fswatch add)")
        values = parse_conf(text, str(conf))
        for key, expected in (("kind", kind.name), ("id", watch_id)):
            if values.pop(key, expected) != expected:
                raise UsageError(f"{conf}: {key} does not match the file's place")
        return values

    def ids(self, kind: str) -> List[str]:
        """The identifiers of the kind's settings files (<ID>.conf, ID valid), sorted; none
        when the kind's directory does not exist; SystemFault (alert 42) when it cannot be read."""
        directory = self.root / kind
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise files.fault("listdir", exc, directory) from None
        out = []
        for name in names:
            if not name.endswith(".conf"):
                continue
            try:
                out.append(check_id(name[: -len(".conf")]))
            except UsageError:
                continue  # not a watch's settings file
        return sorted(out)

    def exists(self, kind: str, watch_id: str) -> bool:
        return self.conf_path(kind, watch_id).exists()

    def remove(self, kind: str, watch_id: str) -> bool:
        """Delete the settings and password; True when there was something to delete."""
        fd = files.open_tree(self.root, [kind], create=False)
        if fd is None:
            return False
        removed = False
        try:
            for name in (f"{check_id(watch_id)}.conf", f"{watch_id}.password", f"{watch_id}.keytab"):
                removed = _unlink(fd, name, self.root / kind) or removed
        finally:
            os.close(fd)
        return removed


def _unlink(fd: int, name: str, where: Path) -> bool:
    """Delete `name` in the directory `fd`; False when it was not there."""
    try:
        os.unlink(name, dir_fd=fd)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise files.fault("unlink", exc, where / name) from None
    return True
