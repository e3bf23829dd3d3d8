"""Key store errors: each says what went wrong and what to do, never a value."""

from __future__ import annotations


class KeyStoreError(Exception):
    """Base class; ``str(err)`` is safe to show and to log."""


class BackendUnavailable(KeyStoreError):
    """The backend cannot be used here (no Secret Service, locked keyring, no master password)."""


class WrongPassword(KeyStoreError):
    """The master password does not open the encrypted key file; nothing was changed."""


class KeyNotFound(KeyStoreError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "key not found"


class KeyExists(KeyStoreError):
    pass


class InvalidName(KeyStoreError, ValueError):
    pass


class CorruptStore(KeyStoreError):
    """The key file exists but is not a valid Airlock key file; it is left untouched."""
