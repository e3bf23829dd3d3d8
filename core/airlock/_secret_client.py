"""``desktop_hooks.get_secret``: an agent asks the Airlock server for a stored key.

The agent never reads the key store itself: the server decides (policy, or a popup "agent X,
pid N, asks for OPENAI_API_KEY"), records who got which key, and sends the value over the local
socket only. Anything but a clear yes raises ``SecretDenied`` (denied, timed out, no such key,
server absent or broken): fail secure, and the message says which.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import protocol as P
from ._client import Client, RemoteError, Unavailable
from .keystore._broker import SecretDenied

__all__ = ["get_secret", "SecretDenied"]

_MESSAGES = {
    "secret_denied": "Airlock denied the key",
    "secret_not_found": "Airlock has no such key",
    "keystore_unavailable": "the Airlock key store is not available",
}


def _denied(code: str, message: str) -> SecretDenied:
    err = SecretDenied(f"{_MESSAGES.get(code, 'Airlock refused the request')}: {message}")
    err.code = code  # type: ignore[attr-defined] - lets callers tell "no such key" from "no"
    return err


def get_secret(name: str, *, timeout: float = 5.0, approval_timeout: float | None = None,
               socket_path: str | os.PathLike[str] | None = None) -> str:
    """The value of the stored key ``name``, once policy or the user allows it.

    ``timeout``: seconds to wait for the server's first word; once it says a human is being
    asked (``approval_pending``), the wait extends to ``approval_timeout`` (default: the
    connected client's, else 300 s), and the server's own approval timeout denies first.
    Uses the ``desktop_hooks.connect()`` connection (and its agent name) when there is one.
    """
    if not isinstance(name, str) or not name:
        raise SecretDenied("get_secret needs the key's name (a non-empty string)")
    from . import desktop_hooks
    from ._runtime import runtime

    shared = desktop_hooks.client()
    if shared is not None and socket_path is None and approval_timeout is None:
        client, own = shared, False
    else:
        if socket_path is None:
            env = os.environ.get("AIRLOCK_SOCKET")
            socket_path = Path(env) if env else (shared.socket_path if shared is not None else None)
        client = Client(socket_path, agent_name=shared.agent_name if shared is not None else runtime.identity.name,
                        timeout=timeout, approval_timeout=300.0 if approval_timeout is None else approval_timeout)
        own = True
    try:
        result = client.call("get_secret", {"name": name}, timeout=timeout)
    except Unavailable as exc:
        raise _denied("unavailable", str(exc)) from None
    except RemoteError as exc:
        raise _denied(exc.code, exc.message) from None
    except P.ProtocolError as exc:
        raise _denied(exc.code, exc.message) from None
    finally:
        if own:
            client.close()
    value = result.get("value") if isinstance(result, dict) else None
    if not isinstance(value, str) or not value or result.get("name") != name:
        raise _denied("internal_error", "the server's answer did not carry the key")
    try:  # blank the value from this process's own logs and audit records too
        from .redaction import KNOWN

        KNOWN.add(name, [value])
    except Exception:  # noqa: BLE001 - redaction is a safety net here, not a reason to fail the call
        pass
    return value
