"""fswatch.probes.nfs without sockets: target validation and the error -> alert table."""

from __future__ import annotations

import errno

import pytest

from fswatch.core.errors import UsageError
from fswatch.kinds import NFS
from fswatch.probes import nfs
from fswatch.probes.nfs import NfsTarget
from fswatch.rpc.errors import (
    MountError,
    NfsError,
    ProgramNotRegistered,
    RpcConnectionError,
    RpcDecodeError,
    RpcReplyError,
    RpcSystemError,
    RpcTimeout,
)


def test_target_takes_ipv4_and_ipv6_addresses_and_host_names():
    assert NfsTarget("/x", address="::1").address == "::1"
    assert NfsTarget("/x", address="10.1.2.3").address == "10.1.2.3"
    assert NfsTarget("/x", address="nfs.example").address == "nfs.example"  # looked up in each probe


def test_target_defaults():
    target = NfsTarget("/srv/nfs")
    assert (target.address, target.port, target.mount_port, target.version, target.transport) == (
        "127.0.0.1",
        None,
        None,
        3,
        "tcp",
    )


@pytest.mark.parametrize(
    "kw",
    [
        {"export": "relative"},
        {"export": "/" + "x" * 1024},
        {"export": "/bad\udcff"},
        {"export": "/x", "address": "nfs_1.example"},
        {"export": "/x", "address": "10.1"},
        {"export": "/x", "address": "10.0.0.256"},
        {"export": "/x", "nfs_version": "2"},
        {"export": "/x", "transport": "sctp"},
        {"export": "/x", "nfs_version": "4", "transport": "udp"},
        {"export": "/x", "nfs_version": "4.3"},
        {"export": "/x", "nfs_version": "3.1"},
        {"export": "/x", "nfs_version": "4.1", "transport": "udp"},
        {"export": "/x", "port": "0"},
        {"export": "/x", "mount_port": "65536"},
    ],
)
def test_the_kind_refuses_bad_settings(kw):
    # The NFS kind is the one validation of a target: NfsTarget trusts what it is given.
    with pytest.raises(UsageError):
        NFS.check_target(kw)


PORTMAPPER, SERVICE = nfs.PORTMAPPER, nfs.SERVICE
REFUSED = RpcConnectionError(errno.ECONNREFUSED)
RESET = RpcConnectionError(errno.ECONNRESET)


@pytest.mark.parametrize(
    "exc, talks_to, alert, detail, rpc_status",
    [
        (REFUSED, PORTMAPPER, 82, "RPC: Unable to receive; errno = Connection refused", "RPC_CANTRECV"),
        (RESET, PORTMAPPER, 82, "RPC: Unable to receive; errno = Connection reset by peer", "RPC_CANTRECV"),
        (RpcTimeout(), PORTMAPPER, 82, "RPC: Timed out", "RPC_TIMEDOUT"),
        (RpcDecodeError("x"), PORTMAPPER, 82, "RPC: Can't decode result", "RPC_CANTDECODERES"),
        (RpcReplyError("PROG_UNAVAIL"), PORTMAPPER, 82, "RPC: Program unavailable (PROG_UNAVAIL)", "PROG_UNAVAIL"),
        (ProgramNotRegistered("mountd"), PORTMAPPER, 83, "", "RPC_PROGNOTREGISTERED"),
        (MountError("MNT3ERR_ACCES", "MNT"), SERVICE, 81, "MNT3ERR_ACCES", "MNT3ERR_ACCES"),
        (MountError("MNT3ERR_NOENT", "MNT"), SERVICE, 81, "MNT3ERR_NOENT", "MNT3ERR_NOENT"),
        (NfsError("NFS4ERR_NOENT", "LOOKUP"), SERVICE, 81, "NFS4ERR_NOENT", "NFS4ERR_NOENT"),
        (NfsError("NFS4ERR_ACCESS", "LOOKUP"), SERVICE, 81, "NFS4ERR_ACCESS", "NFS4ERR_ACCESS"),
        (REFUSED, SERVICE, 84, "Connection refused", "RPC_CANTRECV"),
        (RESET, SERVICE, 84, "Connection reset by peer", "RPC_CANTRECV"),
        (RpcTimeout(), SERVICE, 84, "Connection timed out", "RPC_TIMEDOUT"),
        (NfsError("NFS3ERR_STALE", "GETATTR"), SERVICE, 85, "NFS3ERR_STALE", "NFS3ERR_STALE"),
        (NfsError("NFS4ERR_WRONGSEC", "LOOKUP"), SERVICE, 85, "NFS4ERR_WRONGSEC", "NFS4ERR_WRONGSEC"),
        (NfsError("NFS4ERR_STALE", "PUTROOTFH"), SERVICE, 85, "NFS4ERR_STALE", "NFS4ERR_STALE"),
        (RpcReplyError("PROG_MISMATCH", 3, 4), SERVICE, 85,
         "RPC: Program/version mismatch; low version = 3, high version = 4 (PROG_MISMATCH)", "PROG_MISMATCH"),
        (RpcReplyError("AUTH_TOOWEAK"), SERVICE, 85,
         "RPC: Authentication error; why = Client credential too weak (AUTH_TOOWEAK)", "AUTH_TOOWEAK"),
        (RpcDecodeError("x"), SERVICE, 85, "RPC: Can't decode result", "RPC_CANTDECODERES"),
        (RpcSystemError("socket", errno.EMFILE), SERVICE, 42, str(errno.EMFILE), "RPC_SYSTEMERROR"),
        (RpcSystemError("socket", errno.EMFILE), PORTMAPPER, 42, str(errno.EMFILE), "RPC_SYSTEMERROR"),
    ],
)  # fmt: skip
def test_error_to_alert(exc, talks_to, alert, detail, rpc_status):
    failure = nfs._failure(exc, "stage", talks_to, "somewhere")
    assert (failure.alert, failure.stage, failure.detail, failure.rpc_status) == (alert, "stage", detail, rpc_status)
    assert failure.timed_out == isinstance(exc, RpcTimeout)
    assert failure.errno == exc.errno
    if failure.timed_out:
        assert failure.errno == errno.ETIMEDOUT
    assert failure.reason.startswith("somewhere")
