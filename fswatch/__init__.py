"""fswatch: watch Samba shares and NFS exports from HA cluster nodes."""

__version__ = "0.2.0"
