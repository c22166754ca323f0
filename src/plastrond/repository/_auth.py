"""Authentication: a ready-made bearer token, a JWT minted from a shared secret, HTTP Basic, and
the TLS side (a client certificate, a trusted server certificate).

Which one is used follows the configuration, in the reference client's order: `AUTH_TOKEN`, then
`JWT_SECRET`, then `FEDORA_USER`/`FEDORA_PASSWORD`. A client certificate works at the TLS layer
and so goes with any of them. Every token and password is registered with the log redaction.
"""

from __future__ import annotations

import base64
import binascii
import ssl
import time
from collections.abc import Callable, Generator

import httpx
import jwt

from plastrond.config import RepositoryConfig
from plastrond.errors import describe
from plastrond.logs import register_secret

from ._errors import RepositoryError

__all__ = ["BearerAuth", "JWTAuth", "auth_from_config", "decode_jwt_secret", "ssl_from_config"]

#: the claims the reference client puts in the tokens it mints
JWT_SUBJECT = "plastron"
JWT_ISSUER = "plastron"
JWT_ROLE = "fedoraAdmin"
#: a minted token is valid for an hour and replaced a minute before it expires
JWT_LIFETIME = 3600.0
JWT_RENEW_BEFORE = 60.0


class BearerAuth(httpx.Auth):
    """Sends a fixed token as `Authorization: Bearer <token>`."""

    def __init__(self, token: str) -> None:
        register_secret(token)
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"


def decode_jwt_secret(secret: str) -> bytes:
    """The HMAC key of a `JWT_SECRET`: the reference client uses the secret as the `k` value of
    a JSON Web Key, that is the key bytes in unpadded base64url."""
    text = secret.strip()
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise RepositoryError(
            "REPOSITORY.JWT_SECRET: not a base64url-encoded key (as a JWK 'k' value)"
        ) from None
    if not key:
        raise RepositoryError("REPOSITORY.JWT_SECRET: the key is empty")
    return key


class JWTAuth(httpx.Auth):
    """Mints an HS256 token from a shared secret and renews it shortly before it expires.

    *clock* gives the current Unix time; tests pass their own.
    """

    def __init__(
        self,
        secret: str,
        *,
        lifetime: float = JWT_LIFETIME,
        renew_before: float = JWT_RENEW_BEFORE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        register_secret(secret)
        self._key = decode_jwt_secret(secret)
        self._lifetime = lifetime
        self._renew_before = renew_before
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0
        #: how many tokens this object has minted (for tests and diagnostics)
        self.minted = 0

    def token(self) -> str:
        """The current token, minting a new one when none is left valid long enough."""
        now = self._clock()
        if self._token is None or now >= self._expires - self._renew_before:
            expires = int(now + self._lifetime)
            claims = {"sub": JWT_SUBJECT, "iss": JWT_ISSUER, "role": JWT_ROLE, "exp": expires}
            token = jwt.encode(claims, self._key, algorithm="HS256")
            register_secret(token)
            self._token = token
            self._expires = float(expires)
            self.minted += 1
        return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        yield request

    def __repr__(self) -> str:
        return "JWTAuth(secret=***)"


def auth_from_config(config: RepositoryConfig) -> httpx.Auth | None:
    if config.auth_token:
        return BearerAuth(config.auth_token)
    if config.jwt_secret:
        return JWTAuth(config.jwt_secret)
    if config.fedora_user and config.fedora_password is not None:
        register_secret(config.fedora_password)
        basic = base64.b64encode(f"{config.fedora_user}:{config.fedora_password}".encode())
        register_secret(basic.decode("ascii"))
        return httpx.BasicAuth(config.fedora_user, config.fedora_password)
    return None


def ssl_from_config(config: RepositoryConfig) -> ssl.SSLContext | bool:
    """The TLS context: the trusted server certificate (instead of the default authorities) and
    the client certificate, when configured; True (httpx's defaults) otherwise."""
    if config.server_cert is None and config.client_cert is None:
        return True
    if config.server_cert is not None:
        try:
            context = ssl.create_default_context(cafile=str(config.server_cert))
        except (OSError, ssl.SSLError) as e:
            raise RepositoryError(
                f"REPOSITORY.SERVER_CERT: cannot load {config.server_cert}: {describe(e)}"
            ) from None
    else:
        context = httpx.create_ssl_context()
    if config.client_cert is not None:
        try:
            context.load_cert_chain(
                str(config.client_cert),
                str(config.client_key) if config.client_key is not None else None,
            )
        except (OSError, ssl.SSLError) as e:
            raise RepositoryError(
                f"REPOSITORY.CLIENT_CERT: cannot load {config.client_cert}"
                f"{' with ' + str(config.client_key) if config.client_key else ''}: {describe(e)}"
            ) from None
    return context
