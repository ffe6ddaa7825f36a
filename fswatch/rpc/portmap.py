"""The portmapper, program 100000 version 2 (RFC 1833 section 3): GETPORT only.

Version 2 is what every rpcbind still answers and all a probe needs.
"""

from __future__ import annotations

import struct

from fswatch.core.deadline import Deadline
from fswatch.rpc.client import Pending, RpcClient
from fswatch.rpc.errors import ProgramNotRegistered, RpcDecodeError
from fswatch.rpc.xdr import Decoder

PROGRAM, VERSION = 100000, 2
PROC_GETPORT = 3
PORT = 111
IPPROTO = {"tcp": 6, "udp": 17}

_MAPPING = struct.Struct(">4I")  # struct mapping { prog, vers, prot, port }


def encode_getport_args(program: int, version: int, protocol: str) -> bytes:
    return _MAPPING.pack(program, version, IPPROTO[protocol], 0)


def decode_getport_result(dec: Decoder) -> int:
    """The port; 0 means "not registered", which the caller must not connect to."""
    port = dec.uint32()
    if port > 0xFFFF:
        raise RpcDecodeError(f"GETPORT answered {port}, which is no port")
    return port


def getport(client: RpcClient, program: int, version: int, protocol: str, deadline: Deadline) -> int:
    """The port of `program` `version` over `protocol`; ProgramNotRegistered for port 0."""
    return start_getport(client, program, version, protocol, deadline).result(deadline)


def start_getport(client: RpcClient, program: int, version: int, protocol: str, deadline: Deadline) -> Pending[int]:
    """GETPORT sent; its result() is getport()'s."""

    def port_of(results: Decoder) -> int:
        port = decode_getport_result(results)
        if port == 0:
            raise ProgramNotRegistered(f"program {program} version {version} over {protocol} is not registered")
        return port

    args = encode_getport_args(program, version, protocol)
    return client.start(PROGRAM, VERSION, PROC_GETPORT, args, deadline, port_of)
