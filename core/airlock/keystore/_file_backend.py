"""The fallback: one Fernet-encrypted file, key derived with scrypt from a master password.

File layout (UTF-8 JSON after a version line, so a future format can be told apart)::

    AIRLOCK-KEYSTORE 1
    {"kdf": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "<b64, 16 random bytes>", "token": "<fernet>"}

The salt is random per file (a fixed salt, as in the reference design, lets one precomputed
dictionary attack every user). The token decrypts to ``{"entries": {entry: value}}``. Writes are
atomic and 0600; a wrong password raises ``WrongPassword`` and never rewrites the file.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path
from typing import Callable

from .._atomic import write_private
from ._errors import BackendUnavailable, CorruptStore, KeyStoreError, WrongPassword

MAGIC = b"AIRLOCK-KEYSTORE 1\n"
ENV_PASSWORD = "AIRLOCK_MASTER_PASSWORD"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1

PasswordSource = Callable[[], "str | None"]


def env_password() -> str | None:
    return os.environ.get(ENV_PASSWORD) or None


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    raw = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode("utf-8"))
    return base64.urlsafe_b64encode(raw)


class FileBackend:
    """Encrypted-file backend; the derived key is kept in memory only for this process."""

    def __init__(self, path: Path, password: PasswordSource | str | None = None) -> None:
        self.path = Path(path)
        self._source: PasswordSource = (lambda: password) if isinstance(password, str) or password is None \
            else password
        if password is None:
            self._source = env_password
        self._lock = threading.RLock()
        self._fernet = None  # type: ignore[var-annotated]
        self._header: dict[str, object] | None = None
        self._entries: dict[str, str] | None = None

    @property
    def name(self) -> str:
        return f"encrypted-file:{self.path}"

    def _password(self) -> str:
        pw = self._source()
        if not pw:
            raise BackendUnavailable(
                f"the encrypted key file needs a master password: set {ENV_PASSWORD} or unlock it from the tray")
        return pw

    def _read_file(self) -> tuple[dict[str, object], bytes] | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if not data.startswith(MAGIC):
            raise CorruptStore(f"{self.path} is not an Airlock key file (bad header); left untouched")
        try:
            header = json.loads(data[len(MAGIC):])
            token = header["token"].encode()
            salt = base64.b64decode(header["salt"])
            int(header["n"]), int(header["r"]), int(header["p"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptStore(f"{self.path} is damaged ({type(exc).__name__}); left untouched") from exc
        if header.get("kdf") != "scrypt" or len(salt) < 16:
            raise CorruptStore(f"{self.path}: unsupported key derivation; left untouched")
        return header, token

    def unlock(self) -> None:
        """Derive the key and decrypt (or prepare a new file). Raises WrongPassword/BackendUnavailable."""
        from cryptography.fernet import Fernet, InvalidToken

        with self._lock:
            if self._entries is not None:
                return
            found = self._read_file()
            password = self._password()
            if found is None:
                salt = os.urandom(16)
                header: dict[str, object] = {"kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
                                             "salt": base64.b64encode(salt).decode()}
                self._fernet = Fernet(_derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))
                self._header, self._entries = header, {}
                return
            header, token = found
            f = Fernet(_derive(password, base64.b64decode(str(header["salt"])), int(header["n"]),  # type: ignore[arg-type]
                               int(header["r"]), int(header["p"])))  # type: ignore[arg-type]
            try:
                plain = f.decrypt(token)
            except InvalidToken:
                raise WrongPassword(f"wrong master password for {self.path} (nothing was changed)") from None
            try:
                entries = json.loads(plain)["entries"]
                if not isinstance(entries, dict):
                    raise TypeError
            except (ValueError, KeyError, TypeError) as exc:
                raise CorruptStore(f"{self.path} decrypted but its content is invalid") from exc
            header.pop("token", None)
            self._fernet, self._header, self._entries = f, header, {str(k): str(v) for k, v in entries.items()}

    def lock(self) -> None:
        """Forget the key and the decrypted values (e.g. on screen lock)."""
        with self._lock:
            self._fernet = self._header = self._entries = None

    def probe(self) -> None:
        self.unlock()

    def _save(self) -> None:
        assert self._fernet is not None and self._header is not None and self._entries is not None
        token = self._fernet.encrypt(json.dumps({"entries": self._entries}).encode())
        body = dict(self._header)
        body["token"] = token.decode()
        write_private(self.path, MAGIC + json.dumps(body).encode() + b"\n")

    def get(self, entry: str) -> str | None:
        with self._lock:
            self.unlock()
            assert self._entries is not None
            return self._entries.get(entry)

    def set(self, entry: str, value: str) -> None:
        with self._lock:
            self.unlock()
            assert self._entries is not None
            old = self._entries.get(entry)
            self._entries[entry] = value
            try:
                self._save()
            except OSError as exc:
                if old is None:
                    self._entries.pop(entry, None)
                else:
                    self._entries[entry] = old
                raise KeyStoreError(f"could not write {self.path}: {exc.strerror}") from exc

    def delete(self, entry: str) -> None:
        with self._lock:
            self.unlock()
            assert self._entries is not None
            if self._entries.pop(entry, None) is not None:
                self._save()

    def change_password(self, new_password: str) -> None:
        """Re-encrypt under a new password and a new random salt."""
        from cryptography.fernet import Fernet

        with self._lock:
            self.unlock()
            salt = os.urandom(16)
            self._header = {"kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
                            "salt": base64.b64encode(salt).decode()}
            self._fernet = Fernet(_derive(new_password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))
            self._source = lambda: new_password
            self._save()
