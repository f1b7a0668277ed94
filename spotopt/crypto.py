"""Encryption of customer secrets at rest: AES-256-GCM, a key id in every stored value.

Keys come from settings.CREDENTIALS_ENCRYPTION_KEYS as "kid:base64key" entries. The first key encrypts;
every listed key decrypts, so a key can be rotated by putting a new one first and re-encrypting
(`manage.py rotate_credentials_key`). A stored value looks like "v1:<kid>:<base64(nonce || ciphertext)>".
The associated data binds a ciphertext to its purpose (e.g. the account and field), so a value copied
into another row or column does not decrypt.
"""

import base64
import binascii
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

FORMAT_VERSION = "v1"
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A stored secret cannot be decrypted (unknown key id, wrong key, or tampered value)."""


@dataclass(frozen=True)
class Keyring:
    current_kid: str
    keys: dict

    def key(self, kid: str) -> bytes:
        try:
            return self.keys[kid]
        except KeyError:
            raise DecryptionError(f"the encryption key '{kid}' is not configured") from None


def parse_keys(entries) -> Keyring:
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        kid, sep, encoded = entry.partition(":")
        if not sep or not kid:
            raise ImproperlyConfigured("CREDENTIALS_ENCRYPTION_KEYS entries must look like 'kid:base64key'.")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(f"Encryption key '{kid}' is not valid base64.") from None
        if len(raw) != 32:
            raise ImproperlyConfigured(f"Encryption key '{kid}' must be 32 bytes (AES-256), got {len(raw)}.")
        if kid in keys:
            raise ImproperlyConfigured(f"Encryption key id '{kid}' is listed twice.")
        keys[kid] = raw
        order.append(kid)
    if not order:
        raise ImproperlyConfigured("CREDENTIALS_ENCRYPTION_KEYS is empty.")
    return Keyring(current_kid=order[0], keys=keys)


@lru_cache(maxsize=4)
def _keyring_for(entries: tuple) -> Keyring:
    return parse_keys(entries)


def keyring() -> Keyring:
    return _keyring_for(tuple(settings.CREDENTIALS_ENCRYPTION_KEYS))


def generate_key_entry(kid: str) -> str:
    """A fresh "kid:base64key" entry for CREDENTIALS_ENCRYPTION_KEYS."""
    return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"


def encrypt(plaintext: str, *, context: str) -> str:
    ring = keyring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(ring.key(ring.current_kid)).encrypt(nonce, plaintext.encode(), context.encode())
    return f"{FORMAT_VERSION}:{ring.current_kid}:{base64.b64encode(nonce + sealed).decode()}"


def key_id_of(token: str) -> str:
    _, kid, _ = _split(token)
    return kid


def decrypt(token: str, *, context: str) -> str:
    _, kid, payload = _split(token)
    try:
        blob = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError("the stored value is corrupt (not base64)") from None
    nonce, sealed = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    try:
        return AESGCM(keyring().key(kid)).decrypt(nonce, sealed, context.encode()).decode()
    except InvalidTag:
        raise DecryptionError(f"the stored value does not decrypt with key '{kid}'") from None


def _split(token: str) -> tuple[str, str, str]:
    parts = (token or "").split(":", 2)
    if len(parts) != 3 or parts[0] != FORMAT_VERSION:
        raise DecryptionError("the stored value is not in the expected format")
    return parts[0], parts[1], parts[2]
