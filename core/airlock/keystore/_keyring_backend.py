"""The OS keyring (Secret Service on Linux, Keychain, Windows Credential Locker) through ``keyring``.

``probe()`` checks the backend really works (a D-Bus session without a secrets service, a
locked collection, or keyring's ``fail`` backend all raise ``BackendUnavailable``), so the store
can fall back to the encrypted file instead of failing on first use.
"""

from __future__ import annotations

import secrets

from ._errors import BackendUnavailable, KeyStoreError

SERVICE = "airlock"


def _keyring():  # noqa: ANN202 - the keyring module
    try:
        import keyring
        import keyring.errors  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - keyring missing or broken on import
        raise BackendUnavailable(f"python keyring unavailable: {exc}") from exc
    return keyring


class KeyringBackend:
    """Values live in the OS keyring under service ``airlock``, one entry per (key, version)."""

    def __init__(self, service: str = SERVICE) -> None:
        self.service = service
        kr = _keyring()
        self._kr = kr
        backend = kr.get_keyring()
        self._backend = backend
        mod = type(backend).__module__
        try:  # SecretService computes its priority by opening D-Bus: a dead bus raises OSError here
            priority = getattr(backend, "priority", 1)
        except Exception as exc:  # noqa: BLE001 - any failure to reach the keyring means "unavailable"
            raise BackendUnavailable(f"OS keyring unreachable ({type(exc).__name__}: {exc})") from exc
        if mod.startswith("keyring.backends.fail") or priority <= 0:
            raise BackendUnavailable(f"no usable OS keyring ({type(backend).__name__})")
        if mod.startswith(("keyrings.alt", "keyrings.cryptfile")):
            raise BackendUnavailable(f"refusing plaintext/terminal-prompting keyring {mod}")
        chain = getattr(backend, "backends", None)
        if chain is not None and not chain:
            raise BackendUnavailable("no usable OS keyring (empty chain)")

    @property
    def name(self) -> str:
        b = self._backend
        inner = getattr(b, "backends", None)
        if inner:
            return "keyring:" + "+".join(type(x).__module__.rsplit(".", 1)[-1] + "." + type(x).__name__ for x in inner)
        return f"keyring:{type(b).__module__.rsplit('.', 1)[-1]}.{type(b).__name__}"

    def probe(self) -> None:
        """Write, read back and delete a random entry; raise BackendUnavailable if any step fails."""
        entry = "__airlock_probe__"
        token = secrets.token_hex(8)
        try:
            self._kr.set_password(self.service, entry, token)
            ok = self._kr.get_password(self.service, entry) == token
            self._kr.delete_password(self.service, entry)
        except Exception as exc:  # noqa: BLE001 - KeyringError, KeyringLocked, D-Bus errors alike
            raise BackendUnavailable(f"OS keyring not usable: {type(exc).__name__}: {exc}") from exc
        if not ok:
            raise BackendUnavailable("OS keyring did not return what was stored")

    def get(self, entry: str) -> str | None:
        try:
            return self._kr.get_password(self.service, entry)
        except Exception as exc:  # noqa: BLE001
            raise KeyStoreError(f"OS keyring read failed: {type(exc).__name__}") from exc

    def set(self, entry: str, value: str) -> None:
        try:
            self._kr.set_password(self.service, entry, value)
        except Exception as exc:  # noqa: BLE001
            raise KeyStoreError(f"OS keyring write failed: {type(exc).__name__}") from exc

    def delete(self, entry: str) -> None:
        try:
            self._kr.delete_password(self.service, entry)
        except self._kr.errors.PasswordDeleteError:
            pass
        except Exception as exc:  # noqa: BLE001
            raise KeyStoreError(f"OS keyring delete failed: {type(exc).__name__}") from exc
