"""The key store: API keys kept in the OS keyring (or an encrypted file), handed out under control.

``open_store()`` picks the backend; ``KeyStore`` stores, lists (never values), rotates with
rollback and deletes keys; ``SecretBroker`` releases a key to an agent only after policy or a
human approves, and records who got which key (never the value) in the audit log.
"""

from __future__ import annotations

from ._broker import SecretBroker, SecretDenied
from ._errors import (BackendUnavailable, CorruptStore, InvalidName, KeyExists, KeyNotFound, KeyStoreError,
                      WrongPassword)
from ._meta import STALE_DAYS
from ._store import KeyInfo, KeyStore, check_name, keys_dir, open_store

__all__ = ["KeyStore", "KeyInfo", "open_store", "keys_dir", "check_name", "SecretBroker", "SecretDenied", "STALE_DAYS",
           "KeyStoreError", "BackendUnavailable", "WrongPassword", "KeyNotFound", "KeyExists", "InvalidName",
           "CorruptStore"]
