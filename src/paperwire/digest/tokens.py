"""Signed links for subscribers: confirm, manage, unsubscribe, feedback, clicks and private feeds.

A token is `payload.signature`: the payload (base64url JSON) names its purpose, its subscriber, when
it expires and, for single-use links, a nonce; the signature is an HMAC-SHA256 of the payload with
the instance's key. A token acts only for the subscriber it names, so one subscriber's link never
reaches another's data, and a subscriber's id is random, so links die with a deleted subscriber.
Single-use links record their nonce in `used_tokens` on first use, in the caller's transaction.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from paperwire.errors import PaperwireError
from paperwire.store import schema
from paperwire.store.sql import insert_missing

CONFIRM_TTL = timedelta(days=2)
MANAGE_TTL = timedelta(hours=24)  # the magic link in a "manage your subscription" email
SESSION_TTL = timedelta(hours=1)  # the manage page's form, once its magic link is used
FEEDBACK_TTL = timedelta(days=180)  # thumbs up/down and click links in a digest


class TokenError(PaperwireError):
    """A link that is forged, expired, already used, or meant for something else."""

    status = 403


def not_valid() -> TokenError:
    hint = "copy the whole link from the email, or ask for a new one on /subscribe"
    return TokenError("this link is not valid", hint=hint)


@dataclass(frozen=True)
class Claims:
    purpose: str
    subscriber_id: str
    expires: int  # Unix seconds; 0: never
    nonce: str = ""  # set on single-use tokens
    extra: dict[str, Any] = field(default_factory=dict)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    """Issues and checks the signed links of one instance (its key from keys.load_secret)."""

    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        # a key of their own, so that no other signature of the instance (CSRF) passes for a link
        self._key = hmac.new(secret, b"paperwire subscriber links", hashlib.sha256).digest()
        self._clock = clock

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(
        self,
        purpose: str,
        subscriber_id: str,
        ttl: timedelta | None = None,
        single_use: bool = False,
        **extra: Any,
    ) -> str:
        expires = int(self._clock() + ttl.total_seconds()) if ttl else 0
        body: dict[str, Any] = {"p": purpose, "s": subscriber_id, "x": expires}
        if single_use:
            body["n"] = secrets.token_urlsafe(12)
        if extra:
            body["a"] = extra
        payload = _b64(orjson.dumps(body))
        return f"{payload}.{self._sign(payload)}"

    def read(self, token: str, purpose: str) -> Claims:
        """The token's claims, when its signature, purpose and expiry hold; else TokenError."""
        invalid = not_valid()
        payload, _, signature = (token or "").partition(".")
        if not payload or not hmac.compare_digest(self._sign(payload), signature):
            raise invalid
        try:
            body = orjson.loads(_unb64(payload))
            claims = Claims(body["p"], body["s"], int(body["x"]), body.get("n", ""), body.get("a", {}))
        except (ValueError, KeyError, TypeError) as exc:
            raise invalid from exc
        if claims.purpose != purpose:
            raise invalid
        if claims.expires and claims.expires < self._clock():
            raise TokenError("this link has expired", hint="ask for a new one on /subscribe")
        return claims

    def consume(self, conn: sa.Connection, token: str, purpose: str) -> Claims:
        """Check a single-use token and mark it used, in the caller's transaction."""
        claims = self.read(token, purpose)
        if not claims.nonce:
            raise TokenError("this link is not valid", hint="ask for a new one on /subscribe")
        used = schema.used_tokens
        exists = schema.subscribers.c.id == claims.subscriber_id
        if conn.execute(sa.select(schema.subscribers.c.id).where(exists)).first() is None:
            raise TokenError("this link is not valid any more", hint="subscribe again on /subscribe")
        now = datetime.fromtimestamp(self._clock(), UTC)
        conn.execute(used.delete().where(used.c.expires_at < now.isoformat()))
        expires = datetime.fromtimestamp(claims.expires, UTC) if claims.expires else now + CONFIRM_TTL
        # the nonce's row is the mark of use; the same link used twice at once: one insert wins
        row = {"nonce": claims.nonce, "subscriber_id": claims.subscriber_id}
        row["expires_at"] = expires.isoformat()
        mark_used = insert_missing(conn, used, ["nonce"]).returning(used.c.nonce)
        if conn.execute(mark_used, row).first() is None:
            raise TokenError("this link was already used", hint="ask for a new one on /subscribe")
        return claims
