"""The server side of ``get_secret``: one request in, one answer frame out, never a value in a log.

Kept out of ``server.py`` so the socket loop stays free of key-store concerns. The server calls
``answer(server, conn, req)``; it validates the name, asks the ``SecretBroker`` (policy rules for
the tool ``airlock.get_secret``, else the server's approval queue: the tray popup or a terminal),
and turns the result into a frame. The broker writes the audit record (who got which key, with
the kernel-verified pid), never the value. Every failure is a structured error: the client raises
``SecretDenied``. The value itself travels only in the answer frame on the local socket.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from . import protocol as P
from .events import Action, AgentIdentity, BeforeToolEvent

__all__ = ["answer", "broker_for", "policy_for"]

log = logging.getLogger("airlock.server.secrets")

_open_lock = threading.Lock()


def policy_for(engine: Any) -> Any:
    """A broker policy from the engine's policy rules: a rule for tool ``airlock.get_secret``
    (``args = {name = "OPENAI_*"}``, optional ``agent``) allows or denies without asking; an
    ``ask`` rule or no rule asks the human."""
    from .keystore._broker import TOOL_NAME

    def decide(name: str, agent: AgentIdentity) -> Action | None:
        store = getattr(engine, "policy", None)
        if store is None:
            return None
        m = store.match(BeforeToolEvent(tool_name=TOOL_NAME, tool_input={"name": name}, agent=agent))
        if m is None or m.action is Action.ASK:
            return None
        return m.action

    return decide


def broker_for(server: Any) -> Any:
    """The server's broker: the one given to ``Server(secrets=...)``, else one over the user's
    key store (opened on first use; a failure is retried on the next request, never cached)."""
    broker = getattr(server, "secrets", None)
    if broker is not None:
        return broker
    with _open_lock:
        broker = getattr(server, "secrets", None)
        if broker is None:
            from .keystore import SecretBroker, open_store

            store = open_store()
            store.load_known_values()
            broker = SecretBroker(store, server.approvals, audit=getattr(server.engine, "audit", None),
                                  policy=policy_for(server.engine))
            server.secrets = broker
    return broker


def answer(server: Any, conn: Any, req: P.Request) -> bytes:
    """The frame answering one ``get_secret`` request (never raises)."""
    from .keystore import KeyStoreError, SecretDenied
    from .keystore._errors import InvalidName

    name = req.params.get("name")
    if not isinstance(name, str):
        return P.error_response(req.id, "invalid_params", "params.name must be a string (the key's name)")
    try:
        broker = broker_for(server)
    except KeyStoreError as exc:
        return P.error_response(req.id, "keystore_unavailable", f"the Airlock key store cannot be opened: {exc}")
    except Exception as exc:  # noqa: BLE001 - fail secure, say what kind of failure
        log.exception("opening the key store failed")
        return P.error_response(req.id, "keystore_unavailable",
                                f"the Airlock key store cannot be opened ({type(exc).__name__})")
    agent = conn.identity  # kernel-verified pid/uid/exe from SO_PEERCRED, name from hello
    server._tls.call = (conn, req.id)  # an approval wait sends approval_pending and frees the reader
    try:
        value = broker.release(name, agent)
    except InvalidName as exc:
        return P.error_response(req.id, "invalid_params", str(exc))
    except SecretDenied as exc:
        try:
            missing = name not in broker.store
        except Exception:  # noqa: BLE001
            missing = False
        code = "secret_not_found" if missing else "secret_denied"
        return P.error_response(req.id, code, str(exc))
    except KeyStoreError as exc:
        return P.error_response(req.id, "keystore_unavailable", str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug is a denial, and the value is never in the message
        log.exception("get_secret failed")
        return P.error_response(req.id, "internal_error", f"get_secret failed ({type(exc).__name__}); denied")
    finally:
        server._tls.call = None
    return P.response(req.id, {"name": name, "value": value})
