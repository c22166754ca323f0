"""The repository client without a server: parsing, URI translation, errors, retries, tokens,
and the transaction's keep-alive, commit and rollback driven through httpx.MockTransport under
trio's MockClock (no real sleeping)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import jwt
import pytest
import trio
from rdflib import Graph, Literal, URIRef

from plastrond.logs import redact
from plastrond.repository import (
    ChecksumMismatch,
    ConcurrentUpdate,
    JWTAuth,
    PreconditionFailed,
    RepositoryClient,
    RepositoryConnectionError,
    RepositoryError,
    RepositoryHTTPError,
    ResourceGone,
    RetryPolicy,
    TransactionError,
    UriMap,
    content_disposition,
    decode_jwt_secret,
    filename_of,
    labelled,
    parse_digest_header,
    parse_links,
)
from plastrond.repository._errors import http_error, reason_from_body
from plastrond.repository._rdf import map_sparql, serialize_for_write
from tests.support.repository_doubles import repo_config

ROOT = "http://fedora.test/rest"
DC = "http://purl.org/dc/terms/"


def client_for(handler, **kwargs) -> RepositoryClient:
    config = kwargs.pop("config", None) or repo_config(
        ROOT, fedora_user="admin", fedora_password="s3cret-pw"
    )
    kwargs.setdefault("retry", RetryPolicy(attempts=3, initial_delay=1.0, max_delay=4.0))
    return RepositoryClient(config, transport=httpx.MockTransport(handler), **kwargs)


# ------------------------------------------------------------------------------------------
# Link headers, URIs, bodies
# ------------------------------------------------------------------------------------------


def test_parse_links_reads_every_link_and_relation():
    values = [
        '<http://www.w3.org/ns/ldp#NonRDFSource>; rel="type", <http://x/r>;rel=type',
        '<http://f/rest/b/fcr:metadata>; rel="describedby"; anchor="http://f/rest/b"',
        '<http://a/1,2>; rel="alternate memento"; title="a, \\"b\\""',
    ]
    links = parse_links(values)
    assert [(ln.target, ln.rel) for ln in links] == [
        ("http://www.w3.org/ns/ldp#NonRDFSource", "type"),
        ("http://x/r", "type"),
        ("http://f/rest/b/fcr:metadata", "describedby"),
        ("http://a/1,2", "alternate"),
        ("http://a/1,2", "memento"),
    ]
    assert links[2].params == (("anchor", "http://f/rest/b"),)
    assert links[3].params == (("title", 'a, "b"'),)


def test_uri_map_translates_external_and_fcrepo4_transaction_forms_both_ways():
    m = UriMap(internal="http://fcrepo:8080/rest", external="https://repo.example.org/rest")
    assert (
        m.outbound("https://repo.example.org/rest/pcdm/1#f") == "http://fcrepo:8080/rest/pcdm/1#f"
    )
    assert m.inbound("http://fcrepo:8080/rest/pcdm/1") == "https://repo.example.org/rest/pcdm/1"
    # Only whole path segments match, and other hosts are left alone.
    assert m.outbound("https://repo.example.org/restless") == "https://repo.example.org/restless"
    assert m.inbound("http://elsewhere/rest/x") == "http://elsewhere/rest/x"
    tx = m.with_tx_base("http://fcrepo:8080/rest/tx:abc")
    assert tx.outbound("https://repo.example.org/rest/a") == "http://fcrepo:8080/rest/tx:abc/a"
    assert tx.outbound("http://fcrepo:8080/rest/tx:abc/a") == "http://fcrepo:8080/rest/tx:abc/a"
    assert tx.inbound("http://fcrepo:8080/rest/tx:abc/a/b") == "https://repo.example.org/rest/a/b"
    assert UriMap(internal=ROOT, external=ROOT).identity
    assert not tx.identity


def test_graph_bodies_keep_the_relative_subject_and_map_other_uris():
    graph = Graph()
    graph.add((URIRef(""), URIRef(DC + "title"), Literal('say "hi"\nthere', lang="en")))
    graph.add((URIRef(""), URIRef(DC + "relation"), URIRef("https://ext/rest/other")))
    body = serialize_for_write(
        graph, UriMap(internal="http://in/rest", external="https://ext/rest").outbound
    )
    text = body.decode()
    assert '<> <http://purl.org/dc/terms/title> "say \\"hi\\"\\nthere"@en .' in text
    assert "<> <http://purl.org/dc/terms/relation> <http://in/rest/other> ." in text
    assert serialize_for_write(None, None) == b""


def test_sparql_iris_are_mapped_but_relative_iris_and_literals_are_not():
    mapper = UriMap(internal="http://in/rest", external="https://ext/rest").outbound
    query = (
        "PREFIX ex: <https://ext/rest/ns#>\n"
        'DELETE { <> ex:p "https://ext/rest/x" } INSERT { <> <http://x/p> <https://ext/rest/a> }'
        " WHERE { <#frag> ?p ?o FILTER(?o < 3) }"
    )
    mapped = map_sparql(query, mapper)
    assert "PREFIX ex: <http://in/rest/ns#>" in mapped
    assert "<http://in/rest/a>" in mapped
    assert '"https://ext/rest/x"' in mapped
    assert "<> ex:p" in mapped and "<#frag>" in mapped and "?o < 3" in mapped


@pytest.mark.parametrize(
    "name",
    ["plain.tif", "héllo wörld.txt", 'a "quoted" name.txt', "back\\slash", "日本.pdf"],
)
def test_content_disposition_round_trips_any_file_name(name):
    header = content_disposition(name)
    # printable ISO-8859-1 only (sent as such): the filename* that Fedora 6 reads is ASCII, the
    # filename fallback that Fedora 4.7 reads keeps the Latin-1 letters
    header.encode("latin-1")
    assert header.isprintable()
    assert filename_of(header) == name
    fallback = filename_of(header.split("; filename*=")[0])
    expected = "".join(c if ord(c) < 256 and c not in '"\\' else "_" for c in name)
    assert fallback == expected


def test_parse_digest_header():
    assert parse_digest_header("sha-256=ABC, sha=def") == {"sha-256": "abc", "sha": "def"}
    assert parse_digest_header(None) == {}


# ------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------


def test_reason_from_jetty_html_page_is_its_title():
    page = (
        b'<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html"/>\n'
        b"<title>Error 403 Forbidden</title>\n</head>\n<body><h2>HTTP ERROR 403</h2></body></html>"
    )
    assert reason_from_body(page, "text/html;charset=iso-8859-1", "Forbidden") == (
        "Error 403 Forbidden"
    )


def test_reason_from_multi_line_text_is_one_line_and_bounded():
    body = b"The server managed predicate (a) cannot be modified.\nThe type (b) neither.\n"
    assert reason_from_body(body, "text/plain", "Conflict") == (
        "The server managed predicate (a) cannot be modified.; The type (b) neither."
    )
    long = reason_from_body(b"x" * 5000, "text/plain", "Conflict")
    assert len(long) <= 300 and long.endswith("...")
    assert reason_from_body(b"  ", None, "Not Found") == "Not Found"


def test_http_error_message_is_one_readable_line_without_credentials():
    error = RepositoryHTTPError(
        "PUT", "http://user:pw@fedora.test/rest/a", 409, "Checksum mismatch, computed..."
    )
    assert (
        str(error) == "PUT http://fedora.test/rest/a: 409 Conflict: Checksum mismatch, computed..."
    )
    assert "pw" not in str(error) and "\n" not in str(error)
    assert error.status == 409 and error.method == "PUT"


def test_a_409_is_told_apart_by_what_fedora_says():
    # Fedora 6.1.0's answer to a write of a resource another transaction has written
    held = http_error(
        "PATCH",
        ROOT + "/a",
        409,
        "Cannot update info:fedora/a because it is being updated by another transaction.",
    )
    assert type(held) is ConcurrentUpdate
    assert type(http_error("PUT", ROOT + "/a", 409, "Checksum Mismatch of x and y")) is (
        ChecksumMismatch
    )
    other = http_error("PATCH", ROOT + "/a", 409, "Could not persist triple containing type")
    assert type(other) is RepositoryHTTPError


async def test_errors_carry_method_uri_status_and_server_reason():
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            412, text="Request failed due to unspecified failed precondition.", request=request
        )

    async with client_for(handler) as repo:
        with pytest.raises(PreconditionFailed) as info:
            await repo.update(ROOT + "/a", "INSERT DATA {}", if_match='W/"abc"')
    assert str(info.value) == (
        f"PATCH {ROOT}/a: 412 Precondition Failed: "
        "Request failed due to unspecified failed precondition."
    )


async def test_weak_etags_are_sent_in_their_strong_form():
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204, request=request)

    async with client_for(handler) as repo:
        await repo.update(ROOT + "/a", "INSERT DATA {}", if_match='W/"ABC"', if_state_token="S1")
    assert seen[0].headers["If-Match"] == '"ABC"'
    assert seen[0].headers["X-If-State-Token"] == "S1"


async def test_session_cookies_are_never_sent_back():
    """Fedora hands out session cookies: none is kept, so a delegated request never rides on
    a session another opened."""
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            204,
            headers={"Set-Cookie": "JSESSIONID=abc123; Path=/rest"},
            request=request,
        )

    async with client_for(handler) as repo:
        await repo.head(ROOT + "/a")
        await repo.on_behalf_of("jsmith").head(ROOT + "/a")
        assert not repo._shared.http.cookies
    assert len(seen) == 2
    assert all("Cookie" not in request.headers for request in seen)
    assert seen[1].headers["On-Behalf-Of"] == "jsmith"


# ------------------------------------------------------------------------------------------
# Retries (MockClock: the back-off costs no real time)
# ------------------------------------------------------------------------------------------


async def test_safe_requests_are_retried_on_502_503_504_with_backoff(autojump_clock):
    answers = [503, 502, 200]
    times: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        times.append(trio.current_time())
        status = answers.pop(0)
        return httpx.Response(status, request=request)

    async with client_for(handler) as repo:
        info = await repo.head(ROOT + "/a")
    assert info.uri == ROOT + "/a"
    assert len(times) == 3
    # first retry after 0.5-1 s, second after 1-2 s (initial delay 1 s, doubling, jittered)
    assert 0.5 <= times[1] - times[0] <= 1.0
    assert 1.0 <= times[2] - times[1] <= 2.0


async def test_retry_after_is_honoured_up_to_the_largest_delay(autojump_clock):
    times: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        times.append(trio.current_time())
        if len(times) == 1:
            return httpx.Response(503, headers={"Retry-After": "3"}, request=request)
        return httpx.Response(200, request=request)

    async with client_for(handler) as repo:
        await repo.head(ROOT + "/a")
    assert times[1] - times[0] == pytest.approx(3.0)


async def test_a_read_answered_500_is_tried_again_but_a_write_is_not(autojump_clock):
    # Fedora 6.1.0 sometimes fails concurrent GETs with 500 (a server-side race); a write
    # that got a 500 may have been applied in part, so it is not repeated.
    answers = {"GET": [500, 200], "PUT": [500, 201]}
    calls: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        status = answers[request.method].pop(0)
        headers = {"Content-Type": "text/turtle"} if request.method == "GET" else {}
        return httpx.Response(status, text="", headers=headers, request=request)

    async with client_for(handler) as repo:
        await repo.get_graph(ROOT + "/a")
        with pytest.raises(RepositoryHTTPError) as info:
            await repo.put_container(ROOT + "/b")
    assert calls == ["GET", "GET", "PUT"]
    assert info.value.status == 500


async def test_post_is_not_retried_after_a_503(autojump_clock):
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503, text="busy", request=request)

    async with client_for(handler) as repo:
        with pytest.raises(RepositoryHTTPError) as info:
            await repo.create_container(ROOT)
    assert calls == 1
    assert info.value.status == 503


async def test_connection_refused_is_retried_for_any_replayable_request(autojump_clock):
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(201, headers={"Location": ROOT + "/new"}, request=request)

    async with client_for(handler) as repo:
        created = await repo.create_container(ROOT, slug="new")
    assert calls == 3
    assert created.uri == ROOT + "/new" and created.created


async def test_a_one_shot_stream_is_never_sent_twice(autojump_clock):
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("connection refused", request=request)

    async def chunks():
        yield b"abc"

    async with client_for(handler) as repo:
        with pytest.raises(RepositoryConnectionError) as info:
            await repo.put_binary(ROOT + "/b", chunks(), filename="b", mime_type="text/plain")
    assert calls == 1
    assert str(info.value) == (
        f"PUT {ROOT}/b: cannot reach the repository: ConnectError: connection refused"
    )


async def test_connection_errors_give_up_after_the_last_attempt(autojump_clock):
    async def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    async with client_for(handler) as repo:
        with pytest.raises(RepositoryConnectionError, match="connection timed out"):
            await repo.get_graph(ROOT + "/a")


async def test_a_delete_whose_first_answer_was_lost_counts_as_done(autojump_clock):
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ReadError("connection reset", request=request)
        return httpx.Response(410, text="Discovered tombstone", request=request)

    async with client_for(handler) as repo:
        await repo.delete(ROOT + "/a")
    assert calls == 2


# ------------------------------------------------------------------------------------------
# Authentication
# ------------------------------------------------------------------------------------------

SECRET_KEY = b"k" * 32
SECRET = base64.urlsafe_b64encode(SECRET_KEY).decode().rstrip("=")


def test_jwt_secret_is_a_base64url_key():
    assert decode_jwt_secret(SECRET) == SECRET_KEY
    with pytest.raises(RepositoryError, match="JWT_SECRET") as info:
        decode_jwt_secret("not base64!")
    assert "not base64!" not in str(info.value)


def test_jwt_claims_and_renewal_a_minute_before_expiry():
    now = [1_000_000.0]
    auth = JWTAuth(SECRET, clock=lambda: now[0])
    first = auth.token()
    claims = jwt.decode(first, SECRET_KEY, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {"sub": "plastron", "iss": "plastron", "role": "fedoraAdmin", "exp": 1_003_600}
    now[0] += 3600 - 61
    assert auth.token() == first and auth.minted == 1
    now[0] += 1  # 60 s before expiry: a new token
    second = auth.token()
    assert second != first and auth.minted == 2
    claims = jwt.decode(second, SECRET_KEY, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["exp"] == 1_000_000 + 3600 - 60 + 3600
    # Neither the secret nor a token can reach a log line.
    assert redact(f"token {first} {second} secret {SECRET}") == "token *** *** secret ***"


async def test_basic_credentials_are_sent_and_never_shown():
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401, text="bad credentials for admin:s3cret-pw", request=request)

    async with client_for(handler) as repo:
        with pytest.raises(RepositoryHTTPError) as info:
            await repo.head(ROOT + "/a")
    expected = "Basic " + base64.b64encode(b"admin:s3cret-pw").decode()
    assert seen[0].headers["Authorization"] == expected
    assert "s3cret-pw" not in str(info.value)


def test_unreadable_server_certificate_is_a_one_line_error(tmp_path: Path):
    config = repo_config("https://fedora.test/rest", server_cert=tmp_path / "missing.pem")
    with pytest.raises(RepositoryError) as info:
        RepositoryClient(config)
    assert str(info.value) == (
        f"REPOSITORY.SERVER_CERT: cannot load {tmp_path / 'missing.pem'}: No such file or directory"
    )


# ------------------------------------------------------------------------------------------
# Delegation
# ------------------------------------------------------------------------------------------


async def test_on_behalf_of_view_adds_the_header_and_shares_the_pool():
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, request=request)

    async with client_for(handler) as repo:
        as_user = repo.on_behalf_of("jsmith")
        await as_user.head(ROOT + "/a")
        await repo.head(ROOT + "/a")
        await as_user.aclose()  # a view does not close the shared pool
        await repo.head(ROOT + "/a")
        assert as_user.delegate == "jsmith" and repo.delegate is None
        with pytest.raises(ValueError):
            repo.on_behalf_of("bad\r\nX-Injected: 1")
    assert [r.headers.get("On-Behalf-Of") for r in seen] == ["jsmith", None, None]


# ------------------------------------------------------------------------------------------
# Transactions (Fedora 6 style), against a scripted server and MockClock
# ------------------------------------------------------------------------------------------


class Fedora6Tx:
    """Just enough of Fedora 6's transaction endpoint to drive the client."""

    def __init__(self, *, keep_alive_status: int = 204, hang_on_rollback: bool = False) -> None:
        self.log: list[tuple[float, str, str, str | None]] = []
        self.keep_alive_status = keep_alive_status
        self.hang_on_rollback = hang_on_rollback

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.log.append(
            (trio.current_time(), request.method, url, request.headers.get("Atomic-ID"))
        )
        tx = ROOT + "/fcr:tx/t1"
        if request.method == "POST" and url == ROOT + "/fcr:tx":
            return httpx.Response(201, headers={"Location": tx}, request=request)
        if url == tx and request.method == "POST":
            return httpx.Response(self.keep_alive_status, request=request)
        if url == tx and request.method == "DELETE" and self.hang_on_rollback:
            await trio.sleep_forever()
        if url == tx:
            return httpx.Response(204, request=request)
        return httpx.Response(201, headers={"Location": ROOT + "/made"}, request=request)

    def calls(self, method: str, url: str) -> list[float]:
        return [t for t, m, u, _ in self.log if m == method and u == url]


async def test_keep_alive_is_sent_every_interval_and_commit_once(autojump_clock):
    server = Fedora6Tx()
    tx_uri = ROOT + "/fcr:tx/t1"
    async with client_for(server) as repo:
        start = trio.current_time()
        async with repo.transaction(keep_alive_interval=10) as tx:
            await tx.create_container(ROOT)
            await trio.sleep(35)
            assert tx.transaction_info is not None
            assert tx.transaction_info.keep_alives == 3
    keep_alives = [t - start for t in server.calls("POST", tx_uri)]
    assert keep_alives == pytest.approx([10, 20, 30])
    assert len(server.calls("PUT", tx_uri)) == 1
    assert server.calls("DELETE", tx_uri) == []
    # Work inside carries the transaction; the transaction's own requests do not.
    atomic = {(m, u): a for _, m, u, a in server.log}
    assert atomic[("POST", ROOT)] == tx_uri
    assert atomic[("POST", tx_uri)] is None


async def test_delegated_transaction_delegates_the_work_but_not_the_transaction(autojump_clock):
    seen: list[tuple[str, str, str | None]] = []
    server = Fedora6Tx()

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), request.headers.get("On-Behalf-Of")))
        return await server(request)

    async with (
        client_for(handler) as repo,
        repo.on_behalf_of("jsmith").transaction(keep_alive_interval=1) as tx,
    ):
        assert tx.delegate == "jsmith"
        await tx.create_container(ROOT)
        await trio.sleep(1.5)
    tx_uri = ROOT + "/fcr:tx/t1"
    assert seen == [
        ("POST", ROOT + "/fcr:tx", None),
        ("POST", ROOT, "jsmith"),
        ("POST", tx_uri, None),
        ("PUT", tx_uri, None),
    ]


async def test_error_in_the_block_rolls_back_and_is_raised_unchanged(autojump_clock):
    server = Fedora6Tx()
    async with client_for(server) as repo:
        with pytest.raises(KeyError, match="boom"):
            async with repo.transaction() as tx:
                await tx.create_container(ROOT)
                raise KeyError("boom")
    tx_uri = ROOT + "/fcr:tx/t1"
    assert len(server.calls("DELETE", tx_uri)) == 1
    assert server.calls("PUT", tx_uri) == []


async def test_cancellation_rolls_back_even_though_the_task_is_cancelled(autojump_clock):
    server = Fedora6Tx()
    async with client_for(server) as repo:
        with trio.move_on_after(5) as scope:
            async with repo.transaction() as tx:
                await tx.create_container(ROOT)
                await trio.sleep(100)
        assert scope.cancelled_caught
    tx_uri = ROOT + "/fcr:tx/t1"
    assert len(server.calls("DELETE", tx_uri)) == 1
    assert server.calls("PUT", tx_uri) == []


async def test_rollback_that_hangs_gives_up_at_its_deadline(autojump_clock):
    server = Fedora6Tx(hang_on_rollback=True)
    async with client_for(server, rollback_timeout=7) as repo:
        start = trio.current_time()
        with pytest.raises(ValueError):
            async with repo.transaction():
                raise ValueError
        assert trio.current_time() - start == pytest.approx(7)


async def test_a_transaction_lost_while_open_stops_the_block(autojump_clock):
    server = Fedora6Tx(keep_alive_status=410)
    reached_end = False
    async with client_for(server) as repo:
        with pytest.raises(TransactionError) as info:
            async with repo.transaction(keep_alive_interval=10):
                await trio.sleep(60)
                reached_end = True
    assert not reached_end
    assert trio.current_time() == pytest.approx(10)
    assert str(info.value).startswith(f"transaction {ROOT}/fcr:tx/t1 ended while still in use: ")
    assert not isinstance(info.value.__cause__, trio.Cancelled)


async def test_commit_failure_is_a_transaction_error(autojump_clock):
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and str(request.url) == ROOT + "/fcr:tx":
            return httpx.Response(201, headers={"Location": ROOT + "/fcr:tx/t1"}, request=request)
        if request.method == "PUT":
            return httpx.Response(409, text="conflicting change", request=request)
        return httpx.Response(204, request=request)

    async with client_for(handler) as repo:
        with pytest.raises(TransactionError) as info:
            async with repo.transaction():
                pass
    assert str(info.value) == (
        f"commit of transaction {ROOT}/fcr:tx/t1 failed: "
        f"PUT {ROOT}/fcr:tx/t1: 409 Conflict: conflicting change"
    )


async def test_style_forced_by_config_must_match_the_server(autojump_clock):
    rolled_back: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == ROOT + "/fcr:tx":
            return httpx.Response(201, headers={"Location": ROOT + "/tx:abc"}, request=request)
        rolled_back.append(str(request.url))
        return httpx.Response(204, request=request)

    config = repo_config(ROOT, transaction_style="fcrepo6")
    async with client_for(handler, config=config) as repo:
        with pytest.raises(TransactionError, match="expected a fcrepo6 transaction"):
            async with repo.transaction():
                pass
    assert rolled_back == [ROOT + "/tx:abc/fcr:tx/fcr:rollback"]


async def test_transactions_do_not_nest(autojump_clock):
    async with client_for(Fedora6Tx()) as repo, repo.transaction() as tx:
        with pytest.raises(TransactionError, match="do not nest"):
            async with tx.transaction():
                pass


async def test_streamed_upload_without_digest_is_checked_after_the_fact():
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            await request.aread()
            return httpx.Response(201, headers={"Location": ROOT + "/b"}, request=request)
        assert request.headers["Want-Digest"] == "sha-256"
        return httpx.Response(200, headers={"Digest": "sha-256=" + "0" * 64}, request=request)

    async def chunks():
        yield b"abc"

    async with client_for(handler) as repo:
        with pytest.raises(RepositoryHTTPError, match="streamed bytes have sha-256 ba7816bf"):
            await repo.create_binary(ROOT, chunks(), filename="b", mime_type="text/plain")


async def test_streamed_upload_is_checked_against_the_sha1_fedora_4_7_records():
    """Fedora 4.7 ignores Want-Digest and records only the SHA-1 it computed for bytes sent
    without a Digest header: the client's SHA-1 of the stream is compared with it."""
    wrong = "0" * 40

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            await request.aread()
            return httpx.Response(201, headers={"Location": ROOT + "/b"}, request=request)
        if request.method == "HEAD":
            return httpx.Response(200, request=request)
        body = (
            f"<{ROOT}/b> <http://www.loc.gov/premis/rdf/v1#hasMessageDigest> <urn:sha1:{wrong}> ."
        )
        return httpx.Response(
            200, text=body, headers={"Content-Type": "application/n-triples"}, request=request
        )

    async def chunks():
        yield b"abc"

    async with client_for(handler) as repo:
        with pytest.raises(RepositoryHTTPError, match="streamed bytes have sha a9993e36"):
            await repo.create_binary(ROOT, chunks(), filename="b", mime_type="text/plain")


def test_minted_token_is_an_hs256_jws():
    token = JWTAuth(SECRET).token()
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "HS256"


async def test_gone_is_a_not_found():
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(410, text="Discovered tombstone resource at /a", request=request)

    async with client_for(handler) as repo:
        assert not await repo.exists(ROOT + "/a")
        with pytest.raises(ResourceGone):
            await repo.get_graph(ROOT + "/a")


async def test_download_checks_the_servers_digest_and_leaves_no_partial_file(tmp_path: Path):
    async def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Want-Digest"] == "sha-256"
        return httpx.Response(
            200, content=b"corrupted", headers={"Digest": "sha-256=" + "0" * 64}, request=request
        )

    target = tmp_path / "out.bin"
    async with client_for(handler) as repo:
        with pytest.raises(RepositoryHTTPError, match="the server reports 0000"):
            await repo.download(ROOT + "/b", target)
    assert list(tmp_path.iterdir()) == []


def test_forwarded_headers_name_the_rest_endpoint():
    from plastrond.repository._headers import forwarded_headers

    assert forwarded_headers("https://repo.example.edu/fcrepo/rest") == {
        "X-Forwarded-Host": "repo.example.edu",
        "X-Forwarded-Proto": "https",
    }
    assert forwarded_headers("https://repo.example.edu:443/fcrepo/rest")["X-Forwarded-Host"] == (
        "repo.example.edu"
    )
    assert forwarded_headers("http://repo:8080/fcrepo/rest") == {
        "X-Forwarded-Host": "repo:8080",
        "X-Forwarded-Proto": "http",
    }


def test_a_user_agent_says_import_and_never_attach() -> None:
    """UMD's routes read the User-Agent: `(import)` makes creations import events (one Solr
    add per item); `(attach)` would drop the change from Solr, so it is refused."""
    assert labelled("plastrond/1.2.3", "import") == "plastrond/1.2.3 (import)"
    assert labelled("plastrond/1.2.3 (import)", "import") == "plastrond/1.2.3 (import)"
    with pytest.raises(ValueError, match="'attach'"):
        labelled("plastrond/1.2.3", "attach")
