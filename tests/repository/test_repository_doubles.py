"""What the real Fedoras of these tests (6.1.0 and 4.7.5) cannot show, against small HTTP
doubles on loopback (Fedora 4.7 transactions are tested against the real 4.7.5, in
test_repository_fedora.py):

- Bearer tokens and minted JWTs. The Fedora here has no JWT filter (its Jetty realm does HTTP
  Basic only), so a double checks the Authorization header and the token's signature and claims.
- TLS client certificates and a trusted self-signed server certificate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from rdflib import Literal, URIRef

from plastrond.repository import (
    RepositoryClient,
    RepositoryConnectionError,
    RepositoryHTTPError,
    RetryPolicy,
)
from tests.support.repository_doubles import Reply, Request, repo_config, serve

DC = "http://purl.org/dc/terms/"
EXTERNAL = "https://repo.example.org/rest"


# ------------------------------------------------------------------------------------------
# Bearer tokens and JWTs
# ------------------------------------------------------------------------------------------

KEY = bytes(range(32))
SECRET = base64.urlsafe_b64encode(KEY).decode().rstrip("=")


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def check_jwt(authorization: str | None) -> str | None:
    """Why the header is not a valid plastron admin token (None when it is), checked by hand
    rather than with the library that minted it."""
    if not authorization or not authorization.startswith("Bearer "):
        return "no bearer token"
    try:
        header, payload, signature = authorization.removeprefix("Bearer ").split(".")
    except ValueError:
        return "not a compact JWS"
    expected = hmac.new(KEY, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _unb64(signature)):
        return "bad signature"
    if json.loads(_unb64(header)).get("alg") != "HS256":
        return "not HS256"
    claims = json.loads(_unb64(payload))
    if (claims.get("sub"), claims.get("iss"), claims.get("role")) != (
        "plastron",
        "plastron",
        "fedoraAdmin",
    ):
        return f"wrong claims {claims}"
    if not time.time() + 3500 < claims.get("exp", 0) <= time.time() + 3601:
        return "exp is not an hour ahead"
    return None


def resource_reply(base: str) -> Reply:
    body = f'<{base}/rest/a> <{DC}title> "t" .\n'.encode()
    return Reply(200, [("Content-Type", "application/n-triples")], body)


async def test_jwt_minted_from_the_secret_is_accepted_by_a_checking_server():
    async def handler(request: Request) -> Reply:
        problem = check_jwt(request.header("authorization"))
        if problem:
            return Reply(401, [("Content-Type", "text/plain")], problem.encode())
        return resource_reply(double.base)

    async with serve(handler) as double:
        config = repo_config(f"{double.base}/rest", jwt_secret=SECRET)
        async with RepositoryClient(config) as repo:
            read = await repo.get_graph(f"{double.base}/rest/a")
            await repo.get_graph(f"{double.base}/rest/a")
        assert read.graph.value(URIRef(f"{double.base}/rest/a"), URIRef(DC + "title")) == Literal(
            "t"
        )
        tokens = {r.header("authorization") for r in double.requests}
        assert len(tokens) == 1  # minted once, reused while valid

        wrong = base64.urlsafe_b64encode(b"x" * 32).decode()
        async with RepositoryClient(repo_config(f"{double.base}/rest", jwt_secret=wrong)) as repo:
            with pytest.raises(RepositoryHTTPError) as info:
                await repo.head(f"{double.base}/rest/a")
        assert str(info.value) == f"HEAD {double.base}/rest/a: 401 Unauthorized"


async def test_ready_made_token_wins_over_the_secret():
    async def handler(request: Request) -> Reply:
        if request.header("authorization") != "Bearer ready-made-token":
            return Reply(401)
        return resource_reply(double.base)

    async with serve(handler) as double:
        config = repo_config(
            f"{double.base}/rest", auth_token="ready-made-token", jwt_secret=SECRET
        )
        async with RepositoryClient(config) as repo:
            assert await repo.exists(f"{double.base}/rest/a")


# ------------------------------------------------------------------------------------------
# TLS
# ------------------------------------------------------------------------------------------


def make_certificates(folder: Path) -> dict[str, Path]:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=plastrond test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ):
        cn = "127.0.0.1" if name == "server" else "plastrond-client"
        (folder / f"{name}.ext").write_text(ext)
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={cn}")  # fmt: skip
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
            "-extfile", f"{name}.ext")  # fmt: skip
    return {
        n: folder / n for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")
    }


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_client_certificate_and_trusted_server_certificate(tmp_path: Path):
    certs = make_certificates(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(certs["server.pem"], certs["server.key"])
    server_context.load_verify_locations(certs["ca.pem"])
    server_context.verify_mode = ssl.CERT_REQUIRED

    async def handler(request: Request) -> Reply:
        return resource_reply(double.base)

    no_retry = RetryPolicy(attempts=1)
    async with serve(handler, ssl_context=server_context) as double:
        rest = f"{double.base}/rest"
        config = repo_config(
            rest,
            server_cert=certs["ca.pem"],
            client_cert=certs["client.pem"],
            client_key=certs["client.key"],
        )
        async with RepositoryClient(config, retry=no_retry) as repo:
            assert await repo.exists(f"{rest}/a")
        assert double.requests[-1].peer_subject == "plastrond-client"

        # Without the client certificate the server ends the handshake.
        config = repo_config(rest, server_cert=certs["ca.pem"])
        async with RepositoryClient(config, retry=no_retry) as repo:
            with pytest.raises(RepositoryConnectionError) as info:
                await repo.head(f"{rest}/a")
        assert str(info.value).startswith(f"HEAD {rest}/a: cannot reach the repository: ")

        # Without trusting the server's certificate the client refuses the server.
        async with RepositoryClient(repo_config(rest), retry=no_retry) as repo:
            with pytest.raises(RepositoryConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
                await repo.head(f"{rest}/a")
