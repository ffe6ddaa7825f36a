"""fswatch: watch Samba shares and NFS exports from HA cluster nodes."""

__version__ = "0.1.0"
