"""The RPCSEC_GSS replies of a real nfs-ganesha with Kerberos, for the fuzz harness `gss-decoders`.

Capture (as root, about two minutes: it builds the Kerberos tests' AD domain and ganesha):

    python -m tests.fuzz.gss

It runs fswatch's RPCSEC_GSS against the krb5, krb5i and krb5p exports (NFSv3: context creation,
NULL, GETATTR, FSSTAT, DESTROY; NFSv4.0: a COMPOUND under krb5p) and writes every reply record,
as the server sent it, into tests/data/fuzz/gss.json with what decoding it needs: the call's
sequence number and service. A context's keys cannot be kept, so the capture also keeps what the
real Kerberos context answered - each MIC that verified, each sealed body and its plaintext - and
the harness decodes with a ReplayContext that gives exactly those answers: a mutated verifier,
checksum or sealed body fails as a real context would fail it, and the decoders meet the
replies' real structure.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from fswatch.core.errors import FswatchError
from fswatch.rpc import message, nfs3, nfs4, rpcsec_gss
from fswatch.rpc.message import decode_reply
from tests.fuzz.corpus import DATA_DIR
from tests.fuzz.mutate import Mutator

GSS_FILE = DATA_DIR / "gss.json"
INIT, DATA = "init", "data"


@dataclass(frozen=True)
class GssReply:
    name: str
    kind: str  # INIT (seq: the window the verifier covers) or DATA
    record: bytes
    seq: int
    service: int
    procedure: int  # of NFSv3 (or NFSv4's COMPOUND); 0 for NULL and DESTROY
    version: int
    path: str = ""


class ReplayContext:
    """The answers the real context gave, and failure for anything else."""

    complete = True

    def __init__(self, mics: Dict[Tuple[bytes, bytes], bool], sealed: Dict[bytes, bytes]) -> None:
        self.mics = mics
        self.sealed = sealed

    def step(self, token: Optional[bytes] = None) -> Optional[bytes]:
        return None

    def get_mic(self, data: bytes) -> bytes:
        raise AssertionError("decoding a reply computes no MIC")

    def verify_mic(self, data: bytes, mic: bytes) -> None:
        if (bytes(data), bytes(mic)) not in self.mics:
            raise ValueError("GSS_S_BAD_SIG")

    def wrap(self, data: bytes) -> bytes:
        raise AssertionError("decoding a reply seals nothing")

    def unwrap(self, data: bytes) -> bytes:
        plain = self.sealed.get(bytes(data))
        if plain is None:
            raise ValueError("GSS_S_BAD_SIG")
        return plain


def load(path: Path = GSS_FILE) -> Tuple[Tuple[GssReply, ...], ReplayContext]:
    raw = json.loads(path.read_text())
    replies = tuple(
        GssReply(r["name"], r["kind"], bytes.fromhex(r["record"]), r["seq"], r["service"], r["procedure"],
                 r["version"], r.get("path", ""))  # fmt: skip
        for r in raw["replies"]
    )
    mics = {(bytes.fromhex(d), bytes.fromhex(m)): True for d, m in raw["mics"]}
    sealed = {bytes.fromhex(c): bytes.fromhex(p) for c, p in raw["sealed"]}
    if not replies:
        raise ValueError(f"{path}: no replies; run python -m tests.fuzz.gss")
    return replies, ReplayContext(mics, sealed)


def decode(reply: GssReply, record: bytes, context: ReplayContext) -> object:
    """What fswatch's RPC client does with the reply record of `reply`'s call."""
    answer = decode_reply(record)
    if reply.kind == INIT:
        result = rpcsec_gss.decode_init_result(answer.check())
        rpcsec_gss.verify_reply_verifier(context, answer.verf, result.seq_window, "the context's verifier")
        return result
    results = answer.check()
    rpcsec_gss.verify_reply_verifier(context, answer.verf, reply.seq)
    body = rpcsec_gss.decode_body(context, reply.service, reply.seq, results)
    if reply.version == 4:
        return nfs4.decode_lookup_compound(body, nfs4.path_components(reply.path))
    if reply.procedure == nfs3.PROC_GETATTR:
        return nfs3.decode_getattr_result(body)
    if reply.procedure == nfs3.PROC_FSSTAT:
        return nfs3.decode_fsstat_result(body)
    return None


class GssDecoders:
    """One captured RPCSEC_GSS reply, mutated, through decode_reply, the verifier's check, the
    service's body (checksum, seal, sequence number) and the procedure's decoder. Must end in a
    value or an FswatchError (GssError, RpcDecodeError, ...)."""

    name = "gss-decoders"
    in_process = True

    def __init__(self, path: Path = GSS_FILE) -> None:
        self.replies, self.context = load(path)
        self.pool = [r.record for r in self.replies]

    def case(self, rng: random.Random) -> Tuple[str, str]:
        reply = self.replies[rng.randrange(len(self.replies))]
        mutated, ops = Mutator(rng, self.pool).mutate(reply.record)
        try:
            decode(reply, mutated, self.context)
        except FswatchError:
            return "error", f"{reply.name} {ops}"
        return "ok", f"{reply.name} {ops}"


# -- capture -------------------------------------------------------------------------------------


class _Recording:
    """A real SecurityContext whose verifications and unwraps are kept (the harness's oracle)."""

    def __init__(self, context) -> None:  # type: ignore[no-untyped-def]
        self.context = context
        self.mics: List[Tuple[str, str]] = []
        self.sealed: List[Tuple[str, str]] = []

    @property
    def complete(self) -> bool:
        return self.context.complete

    def step(self, token=None):  # type: ignore[no-untyped-def]
        return self.context.step(token)

    def get_mic(self, data: bytes) -> bytes:
        return self.context.get_mic(data)

    def wrap(self, data: bytes) -> bytes:
        return self.context.wrap(data)

    def verify_mic(self, data: bytes, mic: bytes) -> None:
        self.context.verify_mic(data, mic)
        self.mics.append((bytes(data).hex(), bytes(mic).hex()))

    def unwrap(self, data: bytes) -> bytes:
        plain = self.context.unwrap(data)
        self.sealed.append((bytes(data).hex(), plain.hex()))
        return plain


def capture(output: Path = GSS_FILE) -> int:  # pragma: no cover - run by hand, as root
    import subprocess
    import tempfile

    from tests.fixtures.ad_domain import MEMBER_ADDRESS, AdDomain
    from tests.fixtures.krb5_nfs import NFS_SPN, KerberosNfs

    with AdDomain() as domain:
        who = domain.principal()
        with KerberosNfs(domain) as server:
            private = Path(tempfile.mkdtemp(prefix="fswatch-gss-capture-"))
            private.chmod(0o755)
            exports = {name: server.export(name) for name in ("krb5", "krb5i", "krb5p")}
            argv = domain.client([sys.executable, "-m", "tests.fuzz.gss", "--inside", str(output), who.principal,
                                  str(who.keytab), NFS_SPN, MEMBER_ADDRESS, json.dumps(exports), str(private)])
            proc = subprocess.run(argv, env=domain.env(), capture_output=True, text=True, timeout=600,
                                  cwd=Path(__file__).resolve().parents[2])  # fmt: skip
            print(proc.stdout + proc.stderr, end="")
            return proc.returncode


def _capture_inside(output: Path, principal: str, keytab: str, spn: str, address: str, exports: Dict[str, str],
                    private: str) -> int:  # fmt: skip  # pragma: no cover - run by capture(), in the client's namespace
    from fswatch.core.deadline import Deadline
    from fswatch.probes import kerberos
    from fswatch.rpc import mount
    from fswatch.rpc.client import RpcClient
    from fswatch.rpc.message import auth_sys
    from fswatch.rpc.transport import open_transport

    logon = kerberos.KerberosLogon(principal, spn, keytab, f"{private}/cc")
    deadline = Deadline.after(120)
    kerberos.obtain(logon, deadline)
    replies: List[dict] = []
    oracle = _Recording(None)

    def client_for(version: int) -> Tuple[RpcClient, List[bytes]]:
        client = RpcClient(open_transport("tcp", address, 2049, deadline))
        seen: List[bytes] = []
        recv = client.transport.recv
        client.transport.recv = lambda dl: seen.append(recv(dl)) or seen[-1]  # type: ignore[method-assign]
        return client, seen

    for name, service in (("krb5", 1), ("krb5i", 2), ("krb5p", 3)):
        mounted = mount.mnt(RpcClient(open_transport("tcp", address, 20048, deadline), auth_sys()), exports[name],
                            deadline)  # fmt: skip
        context = _Recording(kerberos.SecurityContext(logon, spnego=False))
        flavor = rpcsec_gss.RpcsecGss(context, service)
        client, seen = client_for(3)
        flavor.establish(client, nfs3.PROGRAM, nfs3.VERSION, deadline)
        replies.append(dict(name=f"{name}/init", kind=INIT, record=seen[-1].hex(), seq=flavor.seq_window,
                            service=service, procedure=0, version=3))  # fmt: skip
        client.flavor = flavor
        for label, procedure in (("null", 0), ("getattr", nfs3.PROC_GETATTR), ("fsstat", nfs3.PROC_FSSTAT)):
            seq_before = flavor._seq
            if procedure == 0:
                nfs3.null(client, deadline)
            elif procedure == nfs3.PROC_GETATTR:
                nfs3.getattr(client, mounted.fhandle, deadline)
            else:
                nfs3.fsstat(client, mounted.fhandle, deadline)
            replies.append(dict(name=f"{name}/{label}", kind=DATA, record=seen[-1].hex(), seq=seq_before + 1,
                                service=service, procedure=procedure, version=3))  # fmt: skip
        seq_before = flavor._seq
        flavor.destroy(client, nfs3.PROGRAM, nfs3.VERSION, deadline)
        replies.append(dict(name=f"{name}/destroy", kind=DATA, record=seen[-1].hex(), seq=seq_before + 1,
                            service=rpcsec_gss.NONE, procedure=0, version=3))  # fmt: skip
        oracle.mics += context.mics
        oracle.sealed += context.sealed
        client.close()
    context = _Recording(kerberos.SecurityContext(logon, spnego=False))
    flavor = rpcsec_gss.RpcsecGss(context, message.PRIVACY)
    client, seen = client_for(4)
    flavor.establish(client, nfs4.PROGRAM, nfs4.VERSION, deadline)
    client.flavor = flavor
    nfs4.lookup_path(client, exports["krb5p"], deadline)
    replies.append(dict(name="krb5p/v4.0-compound", kind=DATA, record=seen[-1].hex(), seq=1,
                        service=message.PRIVACY, procedure=nfs4.PROC_COMPOUND, version=4,
                        path=exports["krb5p"]))  # fmt: skip
    oracle.mics += context.mics
    oracle.sealed += context.sealed
    client.close()
    output.write_text(json.dumps({"replies": replies, "mics": oracle.mics, "sealed": oracle.sealed}, indent=1) + "\n")
    print(f"{output}: {len(replies)} replies, {len(oracle.mics)} MICs, {len(oracle.sealed)} sealed bodies")
    return 0


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) > 1 and sys.argv[1] == "--inside":
        out, principal, keytab, spn, address, exports, private = sys.argv[2:9]
        sys.exit(_capture_inside(Path(out), principal, keytab, spn, address, json.loads(exports), private))
    sys.exit(capture(Path(sys.argv[1]) if len(sys.argv) > 1 else GSS_FILE))

