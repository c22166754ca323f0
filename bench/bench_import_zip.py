"""Importing a large ZIP of binaries: peak memory and temporary disk stay flat.

Run: python bench/bench_import_zip.py [--size-mib N] [--file-mib M] [--url URL]
     [--user U --password P] [--sftp]

Needs a running Fedora (`services/fedora.sh start`), and with --sftp the test sshd
(`services/sshd.sh start`, asked for its URL and keys; export PLASTROND_SERVICES_STATE as
for the tests). Workload: a ZIP (stored, random bytes, so neither side can compress it) of
N MiB in all (default 2048), in files of M MiB (default 64), four files to an item of the Item
model. The import runs in-process, driven as the runner drives it, with `binaries-location:
zip:<the archive>`, or with --sftp `zip+sftp://<user>@127.0.0.1:<port><the archive>` (the
same file, read through the SSH server); every file is streamed from its ZIP member into the
PUT to Fedora.

Every 20 ms it samples this process's resident memory (VmRSS) and the bytes under Python's
temporary folder (pointed at a folder of the benchmark's own). Printed: the baseline RSS
measured just before the import in the same run, the peak RSS over it, the peak temporary
disk use, each also as a ratio of the archive's size (flat: a few MiB, ratio near 0; the
old extract-to-a-temporary-file path used the largest file's size on disk, and the old
zip+sftp path the whole archive's), and MiB/s; with --sftp also the SFTP fetches (round
trips) and the bytes they brought, as a ratio of the archive.
The container is deleted (and its tombstone) afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import logging
import os
import subprocess
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

import httpx
import trio

import plastrond.imports.binaries as binaries
from plastrond.commands import get_command
from plastrond.config import (
    CommandsConfig,
    Config,
    ContentModelsConfig,
    HttpServerConfig,
    ImportConfig,
    RepositoryConfig,
    SolrConfig,
)
from plastrond.jobs import JobContext, JobRequest, JobResult
from plastrond.jobs.runner import run_command
from plastrond.repository import RepositoryClient

MIB = 1024 * 1024
RIGHTS_VOCAB = "http://vocab.lib.umd.edu/rightsStatement#"
RIGHTS = RIGHTS_VOCAB + "InC"
FILES_PER_ITEM = 4


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def tree_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # gone meanwhile
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def sshd() -> tuple[str, Path, Path]:
    """(sftp://user@host:port, client key, known_hosts) of the test sshd, started if absent."""
    script = Path(__file__).resolve().parents[1] / "services" / "sshd.sh"
    lines = subprocess.run(
        ["bash", str(script), "start"], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    values = dict(line.split("=", 1) for line in lines[1:])
    return lines[0], Path(values["key"]), Path(values["known_hosts"])


#: the archives read over SFTP during the run (see `Recorded`)
OPENED: list[binaries.RemoteFile] = []


class Recorded(binaries.RemoteFile):
    """RemoteFile that remembers itself, so that its fetch counts can be printed."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        OPENED.append(self)


def make_zip(path: Path, total_mib: int, file_mib: int) -> list[str]:
    names = []
    block = os.urandom(MIB)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for n in range(max(1, total_mib // file_mib)):
            name = f"scan-{n:04d}.tif"
            with archive.open(name, "w", force_zip64=True) as member:
                for i in range(file_mib):
                    # each MiB differs, so that nothing along the way can deduplicate it
                    member.write(i.to_bytes(4, "big") + n.to_bytes(4, "big") + block[8:])
            names.append(name)
    return names


def make_csv(names: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Identifier", "Title", "Object Type", "Rights Statement", "FILES"])
    for n in range(0, len(names), FILES_PER_ITEM):
        files = ";".join(names[n : n + FILES_PER_ITEM])
        writer.writerow(
            [f"zip-{n}", f"Scans {n}", "http://purl.org/dc/dcmitype/Image", RIGHTS, files]
        )
    return out.getvalue().encode()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080/fcrepo/rest")
    parser.add_argument("--user", default="fedoraAdmin")
    parser.add_argument("--password", default="fedoraAdmin")
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--file-mib", type=int, default=64)
    parser.add_argument("--sftp", action="store_true", help="read the ZIP over SFTP (zip+sftp://)")
    args = parser.parse_args()
    ssh_keys: dict[str, Path] = {}
    if args.sftp:
        sftp_url, key, known_hosts = sshd()
        ssh_keys = {"ssh_private_key": key, "sftp_known_hosts": known_hosts}
        binaries.RemoteFile = Recorded  # type: ignore[misc]
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="bench-import-zip-") as work_name:
        work = Path(work_name)
        archive = work / "scans.zip"
        print(f"writing a {args.size_mib} MiB ZIP of {args.file_mib} MiB files ...", flush=True)
        names = make_zip(archive, args.size_mib, args.file_mib)
        size = archive.stat().st_size
        rights = work / "rights.ttl"
        rights.write_text(f'<{RIGHTS}> <http://www.w3.org/2000/01/rdf-schema#label> "In C" .\n')
        temp = work / "tmp"
        temp.mkdir()
        tempfile.tempdir = str(temp)  # what the import would extract into, watched

        config = Config(
            path=Path("/dev/null"),
            repository=RepositoryConfig(
                rest_endpoint=args.url.rstrip("/"),
                relpath="/",
                log_dir=work,
                fedora_user=args.user,
                fedora_password=args.password,
                timeout=600.0,
            ),
            message_broker=None,
            commands=CommandsConfig(
                import_=ImportConfig(
                    jobs_dir=work / "jobs", allowed_binaries_dirs=(work,), **ssh_keys
                )
            ),
            http_server=HttpServerConfig(),
            solr=SolrConfig(),
            content_models=ContentModelsConfig(vocabularies={RIGHTS_VOCAB: str(rights)}),
        )
        location = (
            f"zip+sftp://{sftp_url.removeprefix('sftp://')}{archive}"
            if args.sftp
            else (f"zip:{archive}")
        )
        parent = f"{args.url.rstrip('/')}/bench-import-zip-{uuid.uuid4()}"
        admin = httpx.Client(auth=(args.user, args.password), timeout=600)
        admin.put(parent, headers={"Content-Type": "text/turtle"}).raise_for_status()
        request = JobRequest(
            job_id=f"bench-import-zip-{uuid.uuid4().hex[:8]}",
            command="import",
            args={"model": "Item", "binaries-location": location, "container": parent},
            body=make_csv(names),
        )
        peak_rss = peak_temp = 0
        try:
            async with RepositoryClient(config.repository) as repo:
                ctx = JobContext(
                    request=request,
                    config=config,
                    log=logging.getLogger("bench.import_zip"),
                    repository_client=repo,
                )
                baseline_rss = rss_bytes()
                result: JobResult | None = None

                async def sample() -> None:
                    nonlocal peak_rss, peak_temp
                    while True:
                        peak_rss = max(peak_rss, rss_bytes())
                        peak_temp = max(peak_temp, await trio.to_thread.run_sync(tree_bytes, temp))
                        await trio.sleep(0.02)

                started = time.perf_counter()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(sample)
                    result = await run_command(get_command("import"), ctx)
                    nursery.cancel_scope.cancel()
                elapsed = time.perf_counter() - started
        finally:
            admin.delete(parent)
            admin.delete(f"{parent}/fcr:tombstone")
            admin.close()
    assert result is not None and isinstance(result.body, dict), result
    if result.state != "import_complete":  # the figures still hold for what was streamed
        print(f"NOTE: {result.state} {result.body.get('count')} {result.error}")
    grown = max(0, peak_rss - baseline_rss)
    print(
        f"archive: {size / MIB:.0f} MiB in {len(names)} files, "
        f"{result.body['count']['created']} items"
    )
    print(f"time: {elapsed:.1f} s, {size / MIB / elapsed:.1f} MiB/s")
    print(
        f"RSS: baseline {baseline_rss / MIB:.1f} MiB, peak {peak_rss / MIB:.1f} MiB, "
        f"growth {grown / MIB:.1f} MiB = {grown / size:.4f} of the archive"
    )
    print(
        f"temporary disk: peak {peak_temp / MIB:.1f} MiB = {peak_temp / size:.4f} of the archive "
        f"(extracting would have held {args.file_mib} MiB at least per file in flight)"
    )
    for remote in OPENED:
        print(
            f"SFTP: {remote.fetches} fetches, {remote.fetched / MIB:.1f} MiB fetched = "
            f"{remote.fetched / size:.4f} of the archive"
        )


if __name__ == "__main__":
    trio.run(main)
