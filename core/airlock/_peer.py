"""Who is on the other end of a Unix socket: SO_PEERCRED plus /proc, for the agent's identity."""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

__all__ = ["PeerCred", "peer_credentials", "check_peer", "process_exe", "process_cmdline"]

_UCRED = struct.Struct("3i")  # pid, uid, gid
_MAX_CMDLINE = 4096


@dataclass(frozen=True, slots=True)
class PeerCred:
    pid: int
    uid: int
    gid: int


def peer_credentials(sock: socket.socket) -> PeerCred:
    """The kernel's word on the peer (not the peer's own claim). Raises OSError if unavailable."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return PeerCred(pid, uid, gid)


def check_peer(cred: PeerCred | None, own_uid: int | None = None) -> str | None:
    """None if the peer may talk to us, else the reason it may not. Only our own uid may."""
    own = os.getuid() if own_uid is None else own_uid
    if cred is None:
        return "peer credentials unavailable"
    if cred.uid != own:
        return f"peer uid {cred.uid} (pid {cred.pid}) is not uid {own}: only the same user may connect"
    return None


def process_exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def process_cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read(_MAX_CMDLINE)
    except OSError:
        return ""
    return " ".join(p.decode("utf-8", "replace") for p in raw.split(b"\0") if p)
