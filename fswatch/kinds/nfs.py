"""The NFS kind: an export probed over fswatch's own ONC RPC client (fswatch.probes.nfs),
clp_nfsmon's words. It sends AUTH_SYS, or with a `principal` and a keytab, RPCSEC_GSS with
Kerberos (sec=krb5, krb5i, krb5p: the flavor the export asks for) to the server's service
principal nfs/NAME (fswatch.kinds.kerberos)."""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from typing import Mapping, Optional, Tuple

from fswatch.core import alerts
from fswatch.core import settings as s
from fswatch.kinds import kerberos
from fswatch.kinds.kind import CANARY_HELP, CANARY_WRITE_HELP, WRITE_STAGES, Kind, Probe, Secrets, Stage, TargetField

NFS_VERSIONS = ("3", "4", "4.0", "4.1", "4.2")
SERVICE = "nfs"  # the NFS server's Kerberos service (RFC 2623 section 2.3: nfs/<server name>)


def check_nfs_version(value: object) -> object:
    """3 or 4 (ints, as settings always had them), or a pinned minor version as text: "4.1"."""
    text = s.check_choice("nfs-version", value, NFS_VERSIONS)
    return int(text) if text in ("3", "4") else text


def nfs_version(value: object) -> Tuple[int, Optional[int]]:
    """(version, minor version) of an nfs_version setting; minor None: the highest offered."""
    major, _, minor = str(value).partition(".")
    return int(major), int(minor) if minor else None


def _target(values: Mapping[str, object], secrets: Secrets, owner: str) -> object:
    from fswatch.probes.nfs import NfsTarget

    version, minor = nfs_version(values.get("nfs_version") or 3)
    return NfsTarget(
        export=str(values["export"]),
        address=str(values.get("address") or default_nfs_address()),
        port=values.get("port"),  # type: ignore[arg-type]
        mount_port=values.get("mount_port"),  # type: ignore[arg-type]
        version=version,
        minor_version=minor,
        transport=str(values.get("transport") or "tcp"),
        canary=values.get("canary"),  # type: ignore[arg-type]
        kerberos=kerberos.logon(values, secrets, SERVICE),  # type: ignore[arg-type]
        canary_write=values.get("canary_write"),  # type: ignore[arg-type]
        canary_owner=owner,
    )


def _probe() -> Probe:
    from fswatch.probes.nfs import probe_nfs

    return probe_nfs  # type: ignore[return-value]


def _combination(values: Mapping[str, object]) -> Optional[str]:
    refused = kerberos.combination(values, SERVICE)
    if refused:
        return refused
    version, _ = nfs_version(values.get("nfs_version") or 3)
    if version == 4 and (values.get("transport") or "tcp") != "tcp":
        return "NFS version 4 runs over TCP only (RFC 7530 section 3.1)"
    return None


def default_nfs_address() -> str:
    """This node's first non-loopback IPv4 address (the seed's default), else 127.0.0.1.

    Read with SIOCGIFADDR per interface: no packet is sent and no other host is asked.
    """
    SIOCGIFADDR = 0x8915
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        return "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for name in names:
            try:
                req = struct.pack("256s", name.encode()[:15])
                addr = socket.inet_ntoa(fcntl.ioctl(sock.fileno(), SIOCGIFADDR, req)[20:24])
            except OSError:
                continue
            if not ipaddress.ip_address(addr).is_loopback:
                return addr
    return "127.0.0.1"


NFS = Kind(
    "nfs",
    {
        "command": "clp_nfsmon",
        "service": "NFS",
        "resource": "shared directory '{target}'",
        "server": "NFS shared directory '{target}'",
        "option": "-d",
    },
    (
        TargetField("export", s.check_export, required=True, help="exported directory (required)"),
        TargetField(
            "address",
            s.check_address,
            help="server IP address or host name (default: this node's first non-loopback address)",
        ),
        TargetField(
            "port", lambda v: s.check_port("port", v), help="NFS port (default: ask the portmapper)", integer=True
        ),
        TargetField(
            "mount_port",
            lambda v: s.check_port("mount-port", v),
            help="MOUNT port (default: ask the portmapper)",
            integer=True,
        ),
        TargetField(
            "nfs_version",
            check_nfs_version,
            3,
            help="3 (default); 4: the highest of 4.2, 4.1, 4.0 the server offers; 4.0, 4.1 or 4.2: that one",
        ),
        TargetField(
            "transport", lambda v: s.check_choice("transport", v, ("tcp", "udp")), "tcp", help="tcp (default) or udp"
        ),
        TargetField("canary", s.check_canary, help=CANARY_HELP.format(where="export")),
        *kerberos.fields(SERVICE),
        TargetField("canary_write", s.check_canary_write, help=CANARY_WRITE_HELP.format(where="export")),
    ),
    "export",
    # fswatch/probes/nfs.py's stages, v3 then v4 (4.1+ adds the session's), each with the alert
    # its failure most often reports.
    (
        Stage("portmap", alerts.PORTMAP),
        Stage("mount", alerts.MOUNT),
        Stage("nfs_null", alerts.NFS_RECEIVE),
        Stage("getattr", alerts.NFS_STATUS),
        Stage("fsstat", alerts.NFS_STATUS),
        Stage("canary", alerts.CANARY_BLOCKED),  # only with a canary file: its read blocked (the storage beneath)
        *WRITE_STAGES,  # only with a write canary
        Stage("umount", alerts.MOUNT),
        Stage("connect", alerts.NFS_RECEIVE),
        Stage("exchange_id", alerts.NFS_STATUS),
        Stage("create_session", alerts.NFS_STATUS),
        Stage("compound", alerts.NFS_STATUS),
        Stage("destroy_session", alerts.NFS_STATUS),
        Stage("destroy_clientid", alerts.NFS_STATUS),
        # only for a Kerberos watch: its ticket first, then the RPCSEC_GSS context on the NFS
        # connection, which the probe destroys last (fswatch.rpc.rpcsec_gss)
        Stage("kerberos", alerts.KDC_STALLED),
        Stage("gss_init", alerts.GSS_REFUSED),
        Stage("secinfo", alerts.NFS_STATUS),  # NFSv4, after NFS4ERR_WRONGSEC: the export's flavors
        Stage("gss_destroy", alerts.NFS_STATUS),
        # only for a host name (fswatch.probes.resolve): last, so the default is portmap
        Stage("resolve", alerts.RESOLVE),
    ),
    _target,
    _probe,
    _combination,
    # clp_nfsmon ID -d DIR [-n PORT] [-w DIR] [-k KEYTAB -K PRINCIPAL [-H SPN_HOST]]
    # (-w, -k, -K, -H: fswatch extensions)
    {"-d": "export", "-n": "port", "-w": "canary_write", "-k": "keytab", "-K": "principal", "-H": "spn_host"},
    declared_alerts=(alerts.NFS_FAILED,),
    servers=("ganesha.nfsd", "rpcbind", "rpc.mountd"),
    takes_keytab=True,
    refused_at_add=(alerts.KRB5_REQUIRED,),
)
