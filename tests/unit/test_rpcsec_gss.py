"""fswatch.rpc.rpcsec_gss framed with a stand-in GSS context (a keyed hash for MICs, a keyed
XOR for wraps): context creation, the per-call verifier, the three services both ways, DESTROY,
and every check a reply must pass. tests/integration/test_nfs_kerberos.py does it with Kerberos
against nfs-ganesha; tests/fuzz/gss.py mutates real replies."""

from __future__ import annotations

import hashlib
from typing import List, Optional

import pytest

from fswatch.core.deadline import Deadline
from fswatch.rpc import message
from fswatch.rpc import rpcsec_gss as g
from fswatch.rpc.client import RpcClient
from fswatch.rpc.errors import RpcDecodeError, RpcReplyError
from fswatch.rpc.message import AUTH_NULL, OpaqueAuth, Reply, decode_call, decode_reply, encode_reply
from fswatch.rpc.xdr import Decoder, Encoder

KEY = b"session-key"


class Context:
    """Both ends of a GSS context in one: what the client's side computes, the server's checks."""

    def __init__(self, key: bytes = KEY, rounds: int = 1) -> None:
        self.key = key
        self.rounds = rounds
        self.steps: List[Optional[bytes]] = []

    @property
    def complete(self) -> bool:
        return len(self.steps) > self.rounds

    def step(self, token: Optional[bytes] = None) -> Optional[bytes]:
        self.steps.append(token)
        return None if self.complete else b"token-%d" % len(self.steps)

    def get_mic(self, data: bytes) -> bytes:
        return hashlib.sha256(self.key + data).digest()[:16]

    def verify_mic(self, data: bytes, mic: bytes) -> None:
        if mic != self.get_mic(data):
            raise ValueError("bad MIC")

    def wrap(self, data: bytes) -> bytes:
        return b"W" + bytes(b ^ self.key[i % len(self.key)] for i, b in enumerate(data))

    def unwrap(self, data: bytes) -> bytes:
        if not data.startswith(b"W"):
            raise ValueError("not sealed")
        return bytes(b ^ self.key[i % len(self.key)] for i, b in enumerate(data[1:]))


class Server:
    """Answers one record per exchange, as the test scripts it (an RPCSEC_GSS NFS server's words)."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.calls = []
        self.answer = None  # a function (call) -> reply record
        self._xid = 7

    def next_xid(self) -> int:
        self._xid += 1
        return self._xid

    def exchange(self, xid: int, record: bytes, deadline: Deadline) -> Reply:
        call = decode_call(record)
        self.calls.append((call, record))
        return decode_reply(self.answer(call, record))


class Loop:
    """A transport to Server for RpcClient's data calls: each record sent is answered at once."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.replies = []

    def send(self, record: bytes, deadline: Deadline) -> None:
        call = decode_call(record)
        self.server.calls.append((call, record))
        self.replies.append(self.server.answer(call, record))

    def recv(self, deadline: Deadline) -> bytes:
        return self.replies.pop(0)

    def close(self) -> None:
        pass


def _verf(context: Context, value: int) -> OpaqueAuth:
    return OpaqueAuth(g.RPCSEC_GSS, context.get_mic(g.seq_bytes(value)))


def _accepted(xid: int, results: bytes, verf: OpaqueAuth) -> bytes:
    plain = encode_reply(xid, results)  # AUTH_NULL verifier: swap in the one given
    null = AUTH_NULL.encode()
    return plain[:12] + verf.encode() + plain[12 + len(null) :]


def _init_ok(context: Context, window: int = 32, handle: bytes = b"H1", major: int = g.GSS_S_COMPLETE):
    def answer(call, record) -> bytes:
        enc = Encoder()
        enc.opaque(handle)
        enc.uint32(major)
        enc.uint32(0)
        enc.uint32(window)
        enc.opaque(b"server-token")
        return _accepted(call.xid, enc.bytes(), _verf(context, window) if major == g.GSS_S_COMPLETE else AUTH_NULL)

    return answer


def _cred(call) -> tuple:
    dec = Decoder(call.cred.body)
    return dec.uint32(), dec.uint32(), dec.uint32(), dec.uint32(), dec.opaque()


def _established(service: int = g.NONE) -> tuple:
    context = Context()
    server = Server(context)
    server.answer = _init_ok(context)
    flavor = g.RpcsecGss(context, service)
    flavor.establish(server, 100003, 3, Deadline.after(5))
    return context, server, flavor


def test_creation_sends_the_token_on_null_and_keeps_handle_and_window():
    context, server, flavor = _established()
    call, _ = server.calls[0]
    assert (call.program, call.version, call.procedure) == (100003, 3, 0) and call.verf == AUTH_NULL
    assert _cred(call) == (1, g.INIT, 0, g.NONE, b"")
    assert Decoder(call.args).opaque() == b"token-1"
    assert context.steps == [None, b"server-token"] and flavor.established
    assert (flavor.handle, flavor.seq_window) == (b"H1", 32)


def test_continue_needed_takes_a_second_round_with_the_handle():
    context = Context(rounds=2)
    server = Server(context)
    rounds = iter([_init_ok(context, major=g.GSS_S_CONTINUE_NEEDED, handle=b"H0"), _init_ok(context, handle=b"H2")])
    server.answer = lambda call, record: next(rounds)(call, record)
    flavor = g.RpcsecGss(context)
    flavor.establish(server, 100003, 4, Deadline.after(5))
    assert [_cred(c)[1] for c, _ in server.calls] == [g.INIT, g.CONTINUE_INIT]
    assert _cred(server.calls[1][0])[4] == b"H0" and flavor.handle == b"H2"


@pytest.mark.parametrize(
    "answer, words, refused",
    [
        (lambda ctx: _init_ok(ctx, major=0x000D0000), "refused the GSS context: major 0xd0000", True),
        (lambda ctx: _init_ok(ctx, window=0), "window of 0", False),
        (lambda ctx: _init_ok(ctx, handle=b""), "a handle of 0 bytes", False),
        (lambda ctx: _init_ok(Context(b"another key")), "the context's verifier does not verify", False),
    ],
)
def test_a_creation_the_client_cannot_trust_is_a_gss_error(answer, words, refused):
    context = Context()
    server = Server(context)
    server.answer = answer(context)
    with pytest.raises(g.GssError) as err:
        g.RpcsecGss(context).establish(server, 100003, 3, Deadline.after(5))
    assert words in str(err.value) and err.value.refused is refused


def test_a_denied_creation_is_the_servers_status():
    server = Server(Context())
    server.answer = lambda call, record: encode_reply(call.xid, denied=(1, 5))  # AUTH_ERROR, AUTH_TOOWEAK
    with pytest.raises(RpcReplyError) as err:
        g.RpcsecGss(Context()).establish(server, 100003, 3, Deadline.after(5))
    assert err.value.status == "AUTH_TOOWEAK"


def _data_answer(context: Context, service: int, results: bytes, seq_delta: int = 0, verf_ok: bool = True):
    def answer(call, record) -> bytes:
        _, _, seq, _, _ = _cred(call)
        body = results
        if service != g.NONE:
            inner = g.seq_bytes(seq + seq_delta) + results
            enc = Encoder()
            if service == g.INTEGRITY:
                enc.opaque(inner)
                enc.opaque(context.get_mic(inner))
            else:
                enc.opaque(context.wrap(inner))
            body = enc.bytes()
        return _accepted(call.xid, body, _verf(context if verf_ok else Context(b"x"), seq))

    return answer


@pytest.mark.parametrize("service", [g.NONE, g.INTEGRITY, message.PRIVACY])
def test_each_service_seals_the_call_and_opens_the_reply(service):
    context, server, flavor = _established(service)
    client = RpcClient(transport=Loop(server), cred=flavor)  # type: ignore[arg-type]
    server.answer = _data_answer(context, service, b"\0\0\0\x2aRESULTS")
    results = client.call(100003, 3, 1, b"ARGS", Deadline.after(5))
    assert results.uint32() == 42 and results.rest() == b"RESULTS"
    call, record = server.calls[-1]
    version, proc, seq, svc, handle = _cred(call)
    assert (version, proc, seq, svc, handle) == (1, g.DATA, 1, service, b"H1")
    header = record[: 24 + len(call.cred.encode())]
    assert call.verf.flavor == g.RPCSEC_GSS and call.verf.body == context.get_mic(header)  # RFC 2203 5.3.1
    if service == g.NONE:
        assert call.args == b"ARGS"
    else:
        body = Decoder(call.args).opaque()
        plain = body if service == g.INTEGRITY else context.unwrap(body)
        assert plain == g.seq_bytes(1) + b"ARGS"
    client.call(100003, 3, 1, b"ARGS", Deadline.after(5))
    assert _cred(server.calls[-1][0])[2] == 2  # the next sequence number


@pytest.mark.parametrize(
    "service, kwargs, words",
    [
        (g.NONE, {"verf_ok": False}, "the reply's verifier does not verify"),
        (g.INTEGRITY, {"seq_delta": 1}, "sequence number 2, the call's was 1"),
        (message.PRIVACY, {"seq_delta": 5}, "sequence number 6, the call's was 1"),
    ],
)
def test_a_reply_that_does_not_verify_is_a_gss_error(service, kwargs, words):
    context, server, flavor = _established(service)
    client = RpcClient(transport=Loop(server), cred=flavor)  # type: ignore[arg-type]
    server.answer = _data_answer(context, service, b"R", **kwargs)
    with pytest.raises(g.GssError) as err:
        client.call(100003, 3, 1, b"", Deadline.after(5))
    assert words in str(err.value) and not err.value.refused


def test_an_integrity_body_with_a_bad_checksum_or_garbage_after_it():
    context, server, flavor = _established(g.INTEGRITY)

    def answer(call, record) -> bytes:
        enc = Encoder()
        enc.opaque(g.seq_bytes(1) + b"R")
        enc.opaque(b"not the MIC")
        return _accepted(call.xid, enc.bytes() + b"\0\0\0\0", _verf(context, 1))

    server.answer = answer
    sealed = flavor.seal(9, 100003, 3, 1, b"")
    with pytest.raises((g.GssError, RpcDecodeError)):
        sealed.open(server.exchange(9, sealed.record, Deadline.after(5)))


def test_destroy_sends_destroy_and_forgets_the_handle():
    context, server, flavor = _established(message.PRIVACY)
    server.answer = lambda call, record: _accepted(call.xid, b"", _verf(context, _cred(call)[2]))
    flavor.destroy(server, 100003, 3, Deadline.after(5))
    call, _ = server.calls[-1]
    assert call.procedure == 0 and _cred(call)[1:4] == (g.DESTROY, 1, g.NONE) and not flavor.established
    with pytest.raises(g.GssError):
        flavor.seal(1, 100003, 3, 1, b"")  # no context left to seal with


def test_pseudo_flavors_and_services_are_rfc_2623s():
    assert message.PSEUDO_FLAVORS == {390003: ("krb5", 1), 390004: ("krb5i", 2), 390005: ("krb5p", 3)}
    assert g.service_name(3) == "krb5p" and g.service_name(9) == "rpc_gss_service(9)"
