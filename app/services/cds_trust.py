"""Who may call the CDS Hooks services: each client's JWT, verified with PyJWT.

A CDS client (the EHR) signs a short-lived JWT per request (CDS Hooks 2.0, "Trusting CDS
Clients") and sends it as ``Authorization: Bearer``. It is accepted only when:

- its header names an allowed algorithm, **RS384** or **ES384** (``none`` and every HMAC
  algorithm are refused before any key is looked at, so a token "signed" with the public key as
  an HMAC secret never verifies), and a ``kid``;
- its ``iss`` is a configured client (setting ``MEDREC_CDS_CLIENTS``), whose JWKS (inline, or
  fetched from ``jwks_url`` and cached) holds a key of that ``kid`` of the matching type
  (RSA for RS384, EC P-384 for ES384);
- the signature verifies, ``aud`` is the invoked service's URL, ``exp`` is in the future,
  ``iat`` is not, and ``exp - iat`` is at most ``MEDREC_CDS_MAX_TOKEN_SECONDS`` (the
  specification recommends five minutes), each with ``MEDREC_CDS_LEEWAY_SECONDS`` of clock skew;
- its ``jti`` was not seen before from that issuer (:func:`app.crud.cds.create_token_id`,
  checked by the caller after this module's checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.settings import CdsClient

ALGORITHMS = ("RS384", "ES384")


class TokenRefused(Exception):
    """The token is not trusted; ``reason`` says why (never the token or its claims)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class VerifiedToken:
    """A verified client token's issuer, id and expiry."""

    iss: str
    jti: str
    expires_at: datetime


class CdsTrust:
    """Verifies client JWTs against the configured issuers.

    Args:
        clients: the trusted clients.
        leeway_seconds: clock skew allowed on ``exp`` and ``iat``.
        max_token_seconds: the longest ``exp - iat`` accepted.
    """

    def __init__(
        self, clients: Sequence[CdsClient], *, leeway_seconds: float, max_token_seconds: float
    ) -> None:
        self.leeway_seconds = leeway_seconds
        self.max_token_seconds = max_token_seconds
        self._clients = {c.iss: c for c in clients}
        self._fetchers = {
            c.iss: jwt.PyJWKClient(c.jwks_url, lifespan=300, timeout=5)
            for c in clients
            if c.jwks_url
        }

    def verify(self, token: str, audiences: Sequence[str]) -> VerifiedToken:
        """Verify ``token`` for one of ``audiences`` (service URLs).

        Raises:
            TokenRefused: with the reason.
        """
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenRefused("malformed token") from None
        alg, kid, iss = header.get("alg"), header.get("kid"), claims.get("iss")
        if alg not in ALGORITHMS:
            raise TokenRefused(f"algorithm not allowed: use one of {', '.join(ALGORITHMS)}")
        if not isinstance(kid, str) or not kid:
            raise TokenRefused("the token header has no kid")
        if not isinstance(iss, str) or iss not in self._clients:
            raise TokenRefused("unknown issuer")
        key = self._key(iss, kid, alg)
        try:
            verified = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=list(audiences),
                issuer=iss,
                leeway=self.leeway_seconds,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenRefused(_reason(exc)) from None
        if verified["exp"] - verified["iat"] > self.max_token_seconds + self.leeway_seconds:
            raise TokenRefused(f"token lifetime over {self.max_token_seconds:g} s")
        if not isinstance(verified["jti"], str) or not verified["jti"]:
            raise TokenRefused("the token has no jti")
        expires = datetime.fromtimestamp(verified["exp"], UTC)
        return VerifiedToken(iss, verified["jti"], expires)

    def _key(self, iss: str, kid: str, alg: str) -> Any:
        found: jwt.PyJWK | None
        try:
            if iss in self._fetchers:
                found = self._fetchers[iss].get_signing_key(kid)
            else:
                keys = jwt.PyJWKSet.from_dict(self._clients[iss].jwks or {"keys": []})
                found = next((k for k in keys.keys if k.key_id == kid), None)
        except jwt.PyJWTError:
            raise TokenRefused("no key of this kid for the issuer") from None
        if found is None:
            raise TokenRefused("no key of this kid for the issuer")
        key = found.key
        if alg == "RS384" and isinstance(key, rsa.RSAPublicKey):
            return key
        if (
            alg == "ES384"
            and isinstance(key, ec.EllipticCurvePublicKey)
            and isinstance(key.curve, ec.SECP384R1)
        ):
            return key
        raise TokenRefused("the key of this kid does not fit the algorithm")


def _reason(exc: jwt.PyJWTError) -> str:
    reasons: list[tuple[type[jwt.PyJWTError], str]] = [
        (jwt.ExpiredSignatureError, "token expired"),
        (jwt.ImmatureSignatureError, "token issued in the future"),
        (jwt.InvalidAudienceError, "wrong audience: not this service's URL"),
        (jwt.InvalidIssuerError, "wrong issuer"),
        (jwt.MissingRequiredClaimError, "a required claim is missing (iss, aud, exp, iat, jti)"),
        (jwt.InvalidSignatureError, "bad signature"),
    ]
    return next((text for kind, text in reasons if isinstance(exc, kind)), "invalid token")
