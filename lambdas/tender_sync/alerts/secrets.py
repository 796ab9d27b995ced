"""The alerts key: it encrypts the webhooks' signing secrets where they are stored (AES-GCM), and signs the
emails' unsubscribe links. On AWS it is the AlertsKey secret (ALERTS_KEY_SECRET_ARN); on this machine ALERTS_KEY,
which the local runners read from .local/alerts.key."""

import base64
import hashlib
import hmac
import os
import secrets
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tender_sync import aws

WEBHOOK_SECRET_PREFIX = "whsec_"
NONCE_BYTES = 12


class AlertsKeyMissing(RuntimeError):
    """Neither ALERTS_KEY nor ALERTS_KEY_SECRET_ARN is set."""


@cache
def alerts_key() -> bytes:
    """The key's 32 bytes, derived from the secret's text (whatever its length)."""
    text = os.environ.get("ALERTS_KEY")
    if not text:
        arn = os.environ.get("ALERTS_KEY_SECRET_ARN")
        if not arn:
            raise AlertsKeyMissing("set ALERTS_KEY (locally) or ALERTS_KEY_SECRET_ARN (the AlertsKey secret)")
        text = aws.secret_string(arn)
    return hashlib.sha256(text.encode()).digest()


def _subkey(key: bytes, purpose: str) -> bytes:
    return hmac.new(key, purpose.encode(), hashlib.sha256).digest()


def new_signing_secret() -> str:
    """A webhook's signing secret, as Standard Webhooks writes it: whsec_ and 24 random bytes in base64."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def encrypt(plaintext: str, key: bytes) -> str:
    """The text encrypted and authenticated, as base64 (nonce, then ciphertext)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(_subkey(key, "signing-secrets")).encrypt(nonce, plaintext.encode(), None)
    return base64.b64encode(nonce + sealed).decode()


def decrypt(token: str, key: bytes) -> str:
    """What encrypt sealed; ValueError when it was not sealed with this key."""
    raw = base64.b64decode(token)
    try:
        return AESGCM(_subkey(key, "signing-secrets")).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None).decode()
    except InvalidTag:
        raise ValueError("a signing secret does not open with the alerts key") from None


def unsubscribe_token(subscription: int, key: bytes) -> str:
    """What an unsubscribe link carries: proof it was made for this subscription, by this stack."""
    digest = hmac.new(_subkey(key, "unsubscribe"), str(subscription).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def is_unsubscribe_token(subscription: int, token: str, key: bytes) -> bool:
    return hmac.compare_digest(unsubscribe_token(subscription, key), token)
