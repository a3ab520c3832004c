"""Remote tokens encrypted at rest with Fernet keys; the key file made once, private."""
from __future__ import annotations

import os
import stat
import threading

import pytest

from ocx.store import generate_key, load_or_create_key
from ocx.store.crypto import Cipher, InvalidToken


def test_a_token_round_trips_and_is_not_readable_sealed():
    cipher = Cipher([generate_key()])

    sealed = cipher.encrypt("remote-token")

    assert "remote-token" not in sealed
    assert cipher.decrypt(sealed) == "remote-token"
    assert cipher.encrypt("remote-token") != sealed   # a fresh IV every time


def test_rotation_reseals_under_the_first_key():
    old, new = generate_key(), generate_key()
    sealed = Cipher([old]).encrypt("remote-token")

    resealed = Cipher([new, old]).rotate(sealed)

    assert Cipher([new]).decrypt(resealed) == "remote-token"
    with pytest.raises(InvalidToken):
        Cipher([old]).decrypt(resealed)
    with pytest.raises(InvalidToken):
        Cipher([generate_key()]).rotate(sealed)


def test_a_bad_key_is_refused_without_being_echoed():
    with pytest.raises(ValueError, match="key #2") as refused:
        Cipher([generate_key(), "not-a-fernet-key-but-a-secret"])

    assert "not-a-fernet-key" not in str(refused.value)
    with pytest.raises(ValueError):
        Cipher([])
    with pytest.raises(ValueError):
        Cipher(generate_key())   # a string, not a list of keys
    assert generate_key()[:8] not in repr(Cipher([generate_key()]))


def test_the_key_file_is_made_once_and_private(tmp_path):
    path = tmp_path / "state" / "encryption.key"

    key = load_or_create_key(path)

    assert load_or_create_key(path) == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert Cipher([key]).decrypt(Cipher([key]).encrypt("x")) == "x"
    assert os.listdir(path.parent) == ["encryption.key"]


def test_workers_starting_together_agree_on_one_key(tmp_path):
    path = tmp_path / "encryption.key"
    keys: list[str] = []
    threads = [threading.Thread(target=lambda: keys.append(load_or_create_key(path)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(keys) == 8 and len(set(keys)) == 1


def test_a_damaged_key_file_is_refused(tmp_path):
    path = tmp_path / "encryption.key"
    path.write_text("garbage\n")

    with pytest.raises(ValueError, match="not a Fernet key"):
        load_or_create_key(path)
