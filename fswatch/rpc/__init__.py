"""fswatch's own ONC RPC client, layered one module per layer (TESTING.md says why no PyPI one):

- xdr:        XDR encoding (RFC 4506)
- message:    CALL / REPLY messages and AUTH_SYS (RFC 5531)
- transport:  TCP record marking and UDP retransmission, bounded by a Deadline
- client:     call/reply with XID matching
- portmap, mount, nfs3, nfs4: the procedures a probe calls

Every error is an RpcError (fswatch.rpc.errors), under fswatch's FswatchError.
"""

from fswatch.rpc.client import RpcClient
from fswatch.rpc.errors import (
    MountError,
    NfsError,
    ProgramNotRegistered,
    RpcConnectionError,
    RpcDecodeError,
    RpcError,
    RpcReplyError,
    RpcSystemError,
    RpcTimeout,
    ServiceError,
)
from fswatch.rpc.message import OpaqueAuth, auth_sys
from fswatch.rpc.transport import TcpTransport, Transport, UdpTransport, open_transport

__all__ = [
    "MountError",
    "NfsError",
    "OpaqueAuth",
    "ProgramNotRegistered",
    "RpcClient",
    "RpcConnectionError",
    "RpcDecodeError",
    "RpcError",
    "RpcReplyError",
    "RpcSystemError",
    "RpcTimeout",
    "ServiceError",
    "TcpTransport",
    "Transport",
    "UdpTransport",
    "auth_sys",
    "open_transport",
]
