"""The KDC exchange of a Kerberos probe, in a child process the probe kills at its deadline.

Run by fswatch.probes.kerberos as `python -I kdc.py KEYTAB PRINCIPAL SERVICE CCACHE`: it gets a
ticket-granting ticket with the keytab (the AS exchange) and a ticket for the server's service
principal (the TGS exchange) into the new FILE credential cache CCACHE, and prints one JSON
line: {"ok": true}, or {"ok": false, "code": the libkrb5 error code, "message": its text}.

It imports nothing of fswatch and runs isolated (-I), so it starts as fast as Python and the
GSSAPI binding allow, and an environment cannot make it load another module.
"""

import json
import sys

KRB5_MECH = "1.2.840.113554.1.2.2"  # RFC 1964


def _signed(code: int) -> int:
    """python-gssapi gives libkrb5's (negative, 32-bit) error codes as unsigned numbers."""
    return code - (1 << 32) if code >= 1 << 31 else code


def exchange(keytab: str, principal: str, service: str, ccache: str) -> dict:
    try:
        import gssapi
        from gssapi.raw import GSSError, acquire_cred_from
    except ImportError as exc:
        return {"ok": False, "code": 0, "message": f"the GSSAPI binding cannot be loaded: {exc}"}
    krb5 = gssapi.OID.from_int_seq(KRB5_MECH)
    # The keytab as MIT's client keytab: libkrb5 gets the TGT with it, into this cache only.
    store = {b"client_keytab": f"FILE:{keytab}".encode(), b"ccache": f"FILE:{ccache}".encode()}
    try:
        client = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
        creds = acquire_cred_from(store, name=client, mechs=[krb5], usage="initiate").creds
        server = gssapi.Name(service, gssapi.NameType.kerberos_principal)
        context = gssapi.SecurityContext(name=server, creds=gssapi.Credentials(creds), mech=krb5, usage="initiate")
        context.step()  # the AP-REQ, never sent: making it put the server's ticket into the cache
    except GSSError as exc:
        return {"ok": False, "code": _signed(exc.min_code), "message": " ".join(str(exc).split())[:300]}
    return {"ok": True}


if __name__ == "__main__":
    if len(sys.argv) != 5:
        print(json.dumps({"ok": False, "code": 0, "message": "usage: kdc.py KEYTAB PRINCIPAL SERVICE CCACHE"}))
        sys.exit(2)
    print(json.dumps(exchange(*sys.argv[1:])))
