"""API key tokens: ``dd_<key id body>_<secret>``; only a SHA-256 of the secret is stored.

The secret is 256 random bits, so a plain SHA-256 is as strong as a slow password hash
would be, and it keeps verification cheap enough to do on every call.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from drawdown import ids

_TOKEN_PREFIX = "dd_"


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key: the token is shown once and never stored."""

    key_id: str
    token: str
    secret_hash: str


def issue_key() -> IssuedKey:
    key_id = ids.new_id(ids.API_KEY)
    secret = secrets.token_urlsafe(32)
    body = key_id.removeprefix(ids.API_KEY + "_")
    return IssuedKey(key_id=key_id, token=f"{_TOKEN_PREFIX}{body}_{secret}", secret_hash=hash_secret(secret))


def parse_token(token: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed token, else None."""
    if not token.startswith(_TOKEN_PREFIX):
        return None
    body, sep, secret = token.removeprefix(_TOKEN_PREFIX).partition("_")
    if not sep or len(body) != 26 or not secret:
        return None
    return f"{ids.API_KEY}_{body}", secret


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
