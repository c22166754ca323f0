"""A binary's bytes through the client: upload and download, with their digests checked.

An upload sends a `Digest` the server checks as the bytes arrive (computed first for a file or
bytes); bytes streamed without one are hashed as they go and compared afterwards with what the
server reports. A download is hashed as it is written and compared with the digest the server
sends or, on Fedora 4.7 (which sends none), with the SHA-1 its description records.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio
from rdflib import URIRef

from ._errors import ChecksumMismatch, RepositoryError, RepositoryHTTPError
from ._headers import (
    DIGESTS,
    URN_DIGEST_NAMES,
    content_disposition,
    header_safe,
    parse_digest_header,
)
from ._request import Body
from ._resources import WriteResult

if TYPE_CHECKING:
    from ._client import RepositoryClient

__all__ = ["BinarySource", "download", "write_binary"]

log = logging.getLogger("plastrond.repository")

PREMIS_DIGEST = "http://www.loc.gov/premis/rdf/v1#hasMessageDigest"
BinarySource = os.PathLike[str] | bytes | AsyncIterable[bytes]
#: SHA-1 is "sha" to Fedora 6 and "sha1" to Fedora 4.7 (each refuses the other's name)
_OTHER_SHA1 = {"sha": "sha1", "sha1": "sha"}


@attrs.define
class _Upload:
    """A binary's body as it will be sent, and what is known of its digests."""

    body: Body
    #: the digests sent in the `Digest` header (our algorithm names)
    given: dict[str, str]
    #: hashers fed as an async iterator streams (when no digest could be sent first)
    streamed: dict[str, Any] | None = None


async def write_binary(
    client: RepositoryClient,
    method: str,
    uri: str,
    source: BinarySource,
    *,
    filename: str,
    mime_type: str,
    digest: str | None,
    headers: dict[str, str],
) -> WriteResult:
    """POST (into *uri*) or PUT (at *uri*) a binary; see `RepositoryClient.put_binary`."""
    await client._prime_before_write(uri if method == "PUT" else f"{uri.rstrip('/')}/new")
    headers["Content-Type"] = header_safe("MIME type", mime_type)
    headers["Content-Disposition"] = content_disposition(filename)
    given = parse_digest_header(digest) if digest else {}
    if digest and not given:
        raise ValueError(f"not a digest of the form algorithm=hex: {digest!r}")
    upload = await _upload(client, source, given, headers)
    response = await _send_with_digest(client, method, uri, headers, upload)
    result = client._written(uri, response, binary=True)
    if upload.streamed is not None:
        ours = {a: h.hexdigest() for a, h in upload.streamed.items()}
        await _check_stored_digest(client, method, result, ours)
        upload.given = ours
    sent = str(len(source)) if isinstance(source, bytes) else headers.get("Content-Length")
    return attrs.evolve(
        result,
        digests={a: v.lower() for a, v in upload.given.items()},
        size=int(sent) if sent and sent.isdigit() else None,
    )


async def _upload(
    client: RepositoryClient, source: BinarySource, given: dict[str, str], headers: dict[str, str]
) -> _Upload:
    algorithm = client._shared.digest_algorithm
    if isinstance(source, bytes):
        if not given:
            given = {algorithm: hashlib.new(DIGESTS[algorithm], source).hexdigest()}
        return _Upload(source, given)
    if isinstance(source, os.PathLike):
        path = Path(source)
        chunk_size = client._shared.chunk_size
        # One trip to a worker thread measures the file and hashes it (unless *digest* is
        # given); a file of at most one chunk comes back whole and is sent from memory
        # (most page images of a typical import: no further thread trips to stream it).
        size, hexdigest, content = await trio.to_thread.run_sync(
            _measure_file,
            path,
            None if given else DIGESTS[algorithm],
            chunk_size,
            limiter=client._shared.hash_limiter,
        )
        if hexdigest is not None:
            given = {algorithm: hexdigest}
        headers["Content-Length"] = str(size)
        return _Upload(content if content is not None else _file_chunks(path, chunk_size), given)
    if given:
        return _Upload(source, given)
    # Hashed as it streams, also in SHA-1: Fedora 4.7 records only the digests it computes
    # itself (SHA-1) for bytes sent without a Digest header.
    hashers = {a: hashlib.new(DIGESTS[a]) for a in dict.fromkeys((algorithm, "sha"))}
    return _Upload(_hashing(source, *hashers.values()), {}, hashers)


async def _send_with_digest(
    client: RepositoryClient, method: str, uri: str, headers: dict[str, str], upload: _Upload
) -> Any:
    """Send the upload; when the server refuses the SHA-1 digest's name and the body can be
    sent again, say it the other way once (Fedora 6 "sha", Fedora 4.7 "sha1")."""
    if upload.given:
        headers["Digest"] = _digest_header(upload.given)
    try:
        return await client._send(method, uri, headers=headers, body=upload.body)
    except RepositoryHTTPError as e:
        replayable = upload.body is None or isinstance(upload.body, bytes) or callable(upload.body)
        if not (
            e.status in (400, 409)
            and "digest" in e.reason.lower()
            and any(alg in _OTHER_SHA1 for alg in upload.given)
            and replayable
        ):
            raise
    upload.given = {_OTHER_SHA1.get(alg, alg): value for alg, value in upload.given.items()}
    headers["Digest"] = _digest_header(upload.given)
    return await client._send(method, uri, headers=headers, body=upload.body)


def _digest_header(digests: Mapping[str, str]) -> str:
    return ", ".join(f"{alg}={value}" for alg, value in digests.items())


async def _check_stored_digest(
    client: RepositoryClient, method: str, result: WriteResult, ours: Mapping[str, str]
) -> None:
    """After streaming bytes whose digest we could not send first: compare the server's
    (our algorithm's when it reports it, else any other of *ours*)."""
    algorithm = client._shared.digest_algorithm
    reported, _ = await client.stored_binary(result.uri)
    if algorithm not in reported:
        # Fedora 4.7 ignores Want-Digest; the description records the digests it computed
        reported = {**reported, **await described_digests(client, result.description_uri)}
    common = [a for a in ours if a in reported]
    if not common:
        log.warning(
            "%s %s: the server reported no %s digest; stored bytes not verified",
            method,
            result.uri,
            " or ".join(ours),
        )
        return
    compare_digests((method, result.uri), {common[0]: ours[common[0]]}, reported, "streamed bytes")


async def described_digests(client: RepositoryClient, description_uri: str) -> dict[str, str]:
    """The `premis:hasMessageDigest` values of a binary's description, by our algorithm
    names (`urn:sha1:<hex>` is "sha"; Fedora 4.7 writes `urn:sha256:`, 6 `urn:sha-256:`)."""
    try:
        read = await client.get_graph(description_uri, containment=False)
    except RepositoryError as e:
        log.warning("%s: digests not readable: %s", description_uri, e)
        return {}
    found: dict[str, str] = {}
    for value in read.graph.objects(None, URIRef(PREMIS_DIGEST)):
        scheme, _, rest = str(value).partition(":")
        name, _, hexdigest = rest.partition(":")
        name = URN_DIGEST_NAMES.get(name.lower(), "")
        if scheme == "urn" and name and hexdigest:
            found[name] = hexdigest.lower()
    return found


def compare_digests(
    request: tuple[str, str], ours: Mapping[str, str], reported: Mapping[str, str], what: str
) -> None:
    """Raise ChecksumMismatch when the server reports, for the (method, uri) *request*,
    another value for one of *ours* (the digests of *what*)."""
    for algorithm, value in ours.items():
        theirs = reported.get(algorithm)
        if theirs is not None and theirs != value:
            method, uri = request
            reason = f"{what} have {algorithm} {value}, the server reports {theirs}"
            raise ChecksumMismatch(method, uri, 200, reason)


async def download(
    client: RepositoryClient, uri: str, path: os.PathLike[str], *, verify: bool = True
) -> int:
    """See `RepositoryClient.download`."""
    target = Path(path)
    partial = target.with_name(target.name + ".part")
    algorithm = client._shared.digest_algorithm
    # Fedora 4.7 sends no Digest (it ignores Want-Digest) but always records a SHA-1 in the
    # binary's description: hash that too, to check against it.
    hashers = {a: hashlib.new(DIGESTS[a]) for a in {algorithm, "sha"}} if verify else {}
    try:
        async with client.open_binary(uri, want_digest=verify) as binary:
            size = await _save(binary.iter_bytes(), partial, hashers.values())
            reported = binary.digests
            described = binary.describedby
        if hashers:
            ours = {a: h.hexdigest() for a, h in hashers.items()}
            if not any(a in reported for a in ours):
                where = client._map.inbound(described) if described else f"{uri}/fcr:metadata"
                reported = await described_digests(client, where)
            compare_digests(("GET", uri), ours, reported, "received bytes")
        await trio.Path(partial).rename(target)
    except BaseException:
        with trio.CancelScope(shield=True):
            await trio.Path(partial).unlink(missing_ok=True)
        raise
    return size


async def _save(chunks: AsyncIterator[bytes], partial: Path, hashers: Any) -> int:
    """Write *chunks* to *partial* (synced), feeding *hashers*; the size written."""
    size = 0
    async with await trio.open_file(partial, "wb") as out:
        async for chunk in chunks:
            for hasher in hashers:
                hasher.update(chunk)
            await out.write(chunk)
            size += len(chunk)
        await out.flush()
        await trio.to_thread.run_sync(os.fsync, out.fileno())
    return size


def _measure_file(
    path: Path, algorithm: str | None, chunk_size: int
) -> tuple[int, str | None, bytes | None]:
    """(size, hex digest by *algorithm* or None, the content when it is at most *chunk_size*
    bytes, else None) of the file at *path*."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size <= chunk_size:
            content = f.read()
            if len(content) == size:  # (a file that grew meanwhile is streamed as it is)
                hexdigest = hashlib.new(algorithm, content).hexdigest() if algorithm else None
                return size, hexdigest, content
            f.seek(0)
        if algorithm is None:
            return size, None, None
        hasher = hashlib.new(algorithm)
        while chunk := f.read(chunk_size):
            hasher.update(chunk)
        return size, hasher.hexdigest(), None


def _file_chunks(path: Path, chunk_size: int) -> Callable[[], AsyncIterator[bytes]]:
    """A body that can be produced again: each call streams the file from the start."""

    async def chunks() -> AsyncIterator[bytes]:
        async with await trio.open_file(path, "rb") as f:
            while True:
                chunk = await f.read(chunk_size)
                if not chunk:
                    return
                yield chunk

    return chunks


async def _hashing(source: AsyncIterable[bytes], *hashers: Any) -> AsyncIterator[bytes]:
    async for chunk in source:
        for hasher in hashers:
            hasher.update(chunk)
        yield chunk
