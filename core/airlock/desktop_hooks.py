"""``desktop_hooks.connect()``: from now on, this process's guarded tools (and supported
frameworks' hooks) are decided by the Airlock server, not in-process.

    from airlock import desktop_hooks
    desktop_hooks.connect("my-agent")          # on_unavailable="deny" by default

If the server is absent or dies, CRITICAL/HIGH calls are denied ("Airlock is not running");
the rest follow ``on_unavailable``. The connection is made lazily and re-made with backoff,
so ``connect()`` succeeds even when the server starts later.

``get_secret("OPENAI_API_KEY")`` asks the server for a stored key (see ``_secret_client``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from ._client import Client, RemoteDecider, Unavailable
from ._runtime import runtime
from ._secret_client import get_secret

__all__ = ["connect", "disconnect", "is_connected", "client", "get_secret"]

log = logging.getLogger("airlock.desktop_hooks")

_client: Client | None = None


def connect(agent_name: str | None = None, *, socket_path: str | os.PathLike[str] | None = None,
            on_unavailable: str = "deny", timeout: float = 5.0, approval_timeout: float = 300.0,
            check: bool = False) -> RemoteDecider:
    """Route this process's decisions through the server. Returns the installed decider.

    ``check=True`` also connects now and raises ``ConnectionError`` if the server is absent
    (by default a missing server is not an error here: calls fail secure until it appears).
    """
    if agent_name:
        runtime.set_agent_name(agent_name)
    name = runtime.identity.name
    if socket_path is None:
        env = os.environ.get("AIRLOCK_SOCKET")
        socket_path = Path(env) if env else None
    new = Client(socket_path, agent_name=name, timeout=timeout, approval_timeout=approval_timeout)
    decider = RemoteDecider(new, on_unavailable=on_unavailable, audit=lambda: runtime.engine.audit)
    _swap(new, decider)
    if check:
        try:
            new.call("ping")
        except Unavailable as exc:
            raise ConnectionError(str(exc)) from None
    _install_integrations(runtime)
    return decider


def _install_integrations(rt: object) -> None:
    """Hook supported agent frameworks that are importable in this process."""
    if importlib.util.find_spec("praisonaiagents") is None:
        return
    try:
        from .integrations.praisonai import install

        install(rt)
    except Exception as exc:  # the guarded-tool path still works; say loudly that hooks are missing
        log.warning("Airlock: could not hook into PraisonAI (%s: %s); its tool calls are NOT routed "
                    "through Airlock unless the tools use @airlock.guard", type(exc).__name__, exc)


def disconnect() -> None:
    """Back to in-process decisions."""
    _swap(None, None)


def _swap(client: Client | None, decider: RemoteDecider | None) -> None:
    """Install the new client and decider atomically, then close the one they replace."""
    global _client
    with runtime.lock:
        old, _client = _client, client
        runtime.remote = decider
        runtime.refresh()
    if old is not None:
        old.close()


def is_connected() -> bool:
    return _client is not None and _client.connected


def client() -> Client | None:
    return _client
