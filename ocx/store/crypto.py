"""Remote tokens at rest: Fernet encryption under a list of keys, newest first.

The first key encrypts; every key decrypts, so a new key can be put first everywhere, the
stored tokens rotated to it (``MappingStore.rotate_keys``), and the old key dropped after.
No message here ever carries a key or a token.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["Cipher", "InvalidToken", "generate_key", "load_or_create_key", "read_key"]


def generate_key() -> str:
    """A new Fernet key (32 random bytes, urlsafe base64)."""
    return Fernet.generate_key().decode()


def _fernet(key: str, index: int) -> Fernet:
    try:
        return Fernet(key)
    except (ValueError, TypeError):
        # cryptography's message does not echo the key, but say which one without it anyway.
        raise ValueError(f"encryption key #{index + 1} is not a Fernet key "
                         "(32 url-safe base64-encoded bytes)") from None


class Cipher:
    """Encrypts with the first key, decrypts with any."""

    def __init__(self, keys: Sequence[str]) -> None:
        if isinstance(keys, str) or not keys:
            raise ValueError("at least one encryption key is needed, as a list")
        self.keys = tuple(k.strip() for k in keys)
        self._fernets = [_fernet(k, i) for i, k in enumerate(self.keys)]
        self._multi = MultiFernet(self._fernets)

    def encrypt(self, clear: str) -> str:
        return self._multi.encrypt(clear.encode()).decode("ascii")

    def decrypt(self, sealed: str) -> str:
        """The clear text; :class:`InvalidToken` when no key opens it."""
        return self._multi.decrypt(sealed.encode("ascii")).decode()

    def sealed_with(self, sealed: str) -> int | None:
        """The index of the key ``sealed`` was encrypted with (0: the newest); None when no
        key opens it."""
        for index, fernet in enumerate(self._fernets):
            try:
                fernet.decrypt(sealed.encode("ascii"))
            except (InvalidToken, UnicodeEncodeError):
                continue
            return index
        return None

    def rotate(self, sealed: str) -> str:
        """``sealed`` re-encrypted under the first key; :class:`InvalidToken` if no key opens it."""
        return self._multi.rotate(sealed.encode("ascii")).decode("ascii")

    def __repr__(self) -> str:
        return f"Cipher(<{len(self.keys)} keys>)"


def load_or_create_key(path: str | os.PathLike) -> str:
    """The Fernet key kept in ``path``, made (mode 0600) the first time.

    Safe when several workers start at once: the key is written to a private temporary file
    and linked into place, so exactly one key wins and nobody reads a half-written file.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".key-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(generate_key() + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another worker made it first: use theirs
    finally:
        os.unlink(tmp)
    return _read_key(path)


def read_key(path: str | os.PathLike) -> str:
    """The Fernet key kept in ``path``, never made (``FileNotFoundError`` when there is none:
    the operator's commands must not make a key the gateway would then use)."""
    return _read_key(os.fspath(path))


def _read_key(path: str) -> str:
    with open(path) as f:
        key = f.read().strip()
    _fernet(key, 0)
    return key
