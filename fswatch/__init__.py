"""fswatch: watch Samba shares and NFS exports from HA cluster nodes."""

from fswatch.core import deferred

__version__ = "0.2.0"

# Before anything of fswatch imports dataclasses or a probe's libraries (fswatch.core.deferred).
deferred.install()
