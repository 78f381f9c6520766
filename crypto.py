"""Encryption at rest (Fernet) and keyed hashes for secrets and CPR numbers."""

import hashlib
import hmac

from cryptography.fernet import Fernet, MultiFernet
from flask import current_app


def _fernets() -> list[Fernet]:
    """One for each key of ENCRYPTION_KEYS, the newest first."""
    keys = current_app.config["ENCRYPTION_KEYS"].split(",")
    return [Fernet(k.strip().encode()) for k in keys if k.strip()]


def _fernet() -> MultiFernet:
    return MultiFernet(_fernets())


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """The same secret, encrypted under the newest key (the first of
    ENCRYPTION_KEYS); any older key in the list may have made it."""
    return _fernet().rotate(token.encode()).decode()


def encryptor():
    """encrypt() with the keys parsed once, for bulk work (an import of
    100,000 rows). MultiFernet encrypts under the newest key alone, so that
    key's Fernet is called directly: the same tokens, without MultiFernet's
    layer for every row."""
    return lambda plain, f=_fernets()[0]: f.encrypt(plain.encode()).decode()


def hasher(purpose: str):
    """keyed_hash() for one purpose, with its key derived once."""
    key = hmac.new(current_app.config["SECRET_KEY"].encode(), purpose.encode(), hashlib.sha256).digest()
    return lambda value: hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def keyed_hash(value: str, purpose: str) -> str:
    """HMAC-SHA256 of value under a key derived from SECRET_KEY and purpose.

    Used for verification codes and CPR de-duplication: comparable, never
    reversible, and useless without the server's secret.
    """
    return hasher(purpose)(value)


__all__ = ["encrypt", "encryptor", "decrypt", "rotate", "hasher", "keyed_hash"]
