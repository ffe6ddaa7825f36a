"""A watch's Kerberos settings, the same for every kind that logs on with them (Samba: cifs/NAME,
NFS: nfs/NAME): `principal` (whose key is in the keytab, a secret beside the settings) and
`spn_host`, the NAME of the server's service principal, needed when the watch probes an IP
address (a floating IP has no SPN of its own). Checked here once: fswatch.probes.kerberos does
the logon.
"""

from __future__ import annotations

from typing import Mapping, Optional, Tuple

from fswatch.core import settings as s
from fswatch.core.errors import UsageError
from fswatch.kinds.kind import Secrets, TargetField


def _check_principal(value: object) -> str:
    """A principal, on a node that can log on with it: refused here, at `fswatch add`, rather
    than at the first probe, where the GSSAPI binding is missing."""
    from fswatch.probes import krb5files  # here: a watch without a principal never loads it
    from fswatch.probes.kerberos import binding_missing

    principal = krb5files.check_principal(value)

    missing = binding_missing()
    if missing:
        raise UsageError(f"--principal {principal}: this node cannot log on with Kerberos: {missing}")
    return principal


def _check_spn_host(value: object) -> str:
    host = s.check_address(value)
    if not s.is_host_name(host):
        raise UsageError(f"spn-host {host!r} is an IP address: give the host name of the server's service principal")
    return host


def fields(service: str) -> Tuple[TargetField, ...]:
    return (
        TargetField(
            "principal",
            _check_principal,
            help="log on with Kerberos only, as this principal (NAME@REALM) with the key in --keytab",
        ),
        TargetField(
            "spn_host",
            _check_spn_host,
            help=f"host name in the server's Kerberos principal {service}/NAME (default: --address, when a host name)",
        ),
    )


def combination(values: Mapping[str, object], service: str) -> Optional[str]:
    """Why these Kerberos settings cannot work together, or None."""
    principal = values.get("principal")
    if principal and values.get("user"):
        return "--principal and --user exclude each other: a Kerberos watch logs on as its principal only"
    if values.get("spn_host") and not principal:
        return "--spn-host names the server's Kerberos principal: it needs --principal"
    address = values.get("address")
    if principal and not values.get("spn_host") and address and not s.is_host_name(str(address)):
        return (
            f"a Kerberos watch of the address {address} needs --spn-host NAME: the host name the server's "
            f"principal {service}/NAME is registered under (an IP address has none)"
        )
    if principal and not values.get("spn_host") and not address:
        return f"a Kerberos watch needs --address NAME or --spn-host NAME: the server's principal {service}/NAME"
    return None


def logon(values: Mapping[str, object], secrets: Secrets, service: str) -> object:
    """The probe's Kerberos logon (fswatch.probes.kerberos.KerberosLogon), or None without a principal."""
    principal = values.get("principal")
    if not principal:
        return None
    from fswatch.probes import krb5files
    from fswatch.probes.krb5logon import KerberosLogon

    host = str(values.get("spn_host") or values["address"])
    target = krb5files.service_principal(service, host, krb5files.realm_of(str(principal)))
    return KerberosLogon(str(principal), target, str(secrets.keytab or ""), str(secrets.ccache or ""))
