"""Each fault server of tests/fixtures/netfaults.py does what it says, and leaks nothing."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from tests.fixtures.netfaults import (
    ClosingServer,
    GarbageServer,
    SilentListener,
    StallingProxy,
    TrickleServer,
    netbios_records,
)

RECORD_A = b"\x00\x00\x00\x02ab"
RECORD_B = b"\x00\x00\x00\x01c"


@pytest.fixture(autouse=True)
def no_leaks():
    """Every server in a test must give back its threads and file descriptors on close()."""
    threads, fds = set(threading.enumerate()), set(os.listdir("/proc/self/fd"))
    yield
    assert set(threading.enumerate()) <= threads
    assert set(os.listdir("/proc/self/fd")) <= fds


def client(server, timeout: float = 1.0) -> socket.socket:
    return socket.create_connection((server.address, server.port), timeout=timeout)


def recv_all(sock: socket.socket, limit: int = 4096) -> bytes:
    """Bytes until EOF, or until the socket's timeout passes with nothing new."""
    data = b""
    for _ in range(limit):  # bounded: at least one byte per turn
        try:
            chunk = sock.recv(limit)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_silent_listener_accepts_and_never_answers():
    with SilentListener() as server, client(server, timeout=0.3) as sock:
        sock.sendall(b"hello")
        with pytest.raises(socket.timeout):
            sock.recv(1)
        assert server.connections == 1
        assert server.address == "127.0.0.1"


def test_garbage_server_answers_with_its_payload_then_fin():
    with GarbageServer(b"HTTP/1.0 400 Bad\r\n\r\n") as server, client(server) as sock:
        sock.sendall(b"\x00\x00\x00\x04\xfeSMB")
        assert recv_all(sock) == b"HTTP/1.0 400 Bad\r\n\r\n"  # ended by EOF, not by a timeout


def test_garbage_server_random_payload_kept_open():
    with GarbageServer.random(64, close_after=False, read_first=False) as server:
        with client(server, timeout=0.2) as sock:
            assert recv_all(sock) == server.payload and len(server.payload) == 64


@pytest.mark.parametrize("read_first", [False, True])
def test_closing_server_sends_fin_without_reply(read_first):
    with ClosingServer(read_first=read_first) as server, client(server) as sock:
        sock.sendall(b"request")
        assert sock.recv(1) == b""


def test_closing_server_can_reset():
    with ClosingServer(reset=True) as server:
        # Under load the RST can even beat the return from connect(): accept it anywhere.
        with pytest.raises(ConnectionResetError), client(server) as sock:
            sock.sendall(b"request")
            sock.recv(1)


def test_trickle_server_sends_one_byte_per_interval():
    with TrickleServer(interval=0.01) as server, client(server, timeout=1.0) as sock:
        chunks = [sock.recv(10) for _ in range(5)]
        assert all(chunk == b"\x00" for chunk in chunks)  # one byte at a time, never a reply


def test_trickle_server_finite_payload_then_silence():
    with TrickleServer(lambda: b"abc", interval=0.01) as server, client(server, timeout=0.3) as sock:
        assert recv_all(sock) == b"abc"
        assert server.bytes_sent == 3


def test_netbios_records_cuts_only_whole_records():
    buffer = bytearray(RECORD_A + RECORD_B[:3])
    assert list(netbios_records(buffer)) == [RECORD_A]
    buffer += RECORD_B[3:]
    assert list(netbios_records(buffer)) == [RECORD_B]
    assert buffer == b""


def test_stalling_proxy_forwards_only_the_first_records():
    # The upstream answers only after it got the client's bytes: proves client -> upstream.
    with GarbageServer(RECORD_A + RECORD_B, close_after=False) as upstream:
        with StallingProxy(upstream.address, upstream.port, forward_replies=1) as proxy:
            with client(proxy, timeout=0.3) as sock:
                sock.sendall(b"negotiate")
                assert recv_all(sock) == RECORD_A
            assert (proxy.replies_forwarded, proxy.replies_dropped) == (1, 1)


def test_stalling_proxy_reassembles_records_split_across_reads():
    with TrickleServer(lambda: RECORD_A + RECORD_B, interval=0.005) as upstream:
        with StallingProxy(upstream.address, upstream.port, forward_replies=2) as proxy:
            with client(proxy, timeout=0.3) as sock:
                assert recv_all(sock) == RECORD_A + RECORD_B


def test_stalling_proxy_without_limit_forwards_raw_bytes():
    with GarbageServer(b"not framed at all") as upstream:
        with StallingProxy(upstream.address, upstream.port, forward_replies=None) as proxy:
            with client(proxy, timeout=0.3) as sock:
                sock.sendall(b"x")
                assert recv_all(sock) == b"not framed at all"
