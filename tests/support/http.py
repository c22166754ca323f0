"""Helpers for the http mode tests: job folders written in the layout of
`shared/reference/import-export.md` (as the import command will write them), the
configuration, and a raw HTTP/1.1 client that sends a request target exactly as written."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import attrs
import httpx
import trio
import yaml

from plastrond.jobs.ids import job_id_segment

ARCHELON_ID = "http://archelon.example/import_jobs/42"
COMPLETED_COLUMNS = ("id", "timestamp", "title", "uri", "status")
DROPPED_COLUMNS = ("id", "timestamp", "title", "uri", "reason")
SOURCE_COLUMNS = ("Identifier", "Title", "Object Type")

CONFIG_TEMPLATE = """\
REPOSITORY:
  REST_ENDPOINT: http://127.0.0.1:9/fcrepo/rest
  RELPATH: /pcdm
  LOG_DIR: {log_dir}
COMMANDS:
  IMPORT:
    JOBS_DIR: {jobs_dir}
HTTP_SERVER:
  HOST: 127.0.0.1
  PORT: {port}
"""


def csv_text(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()


def completed_row(n: int, status: str = "created") -> tuple[str, ...]:
    return (
        f"item-{n}",
        f"2024-01-31T12:{n // 60 % 60:02d}:{n % 60:02d}",
        f"Item {n}",
        f"http://repo.example/fcrepo/rest/pcdm/{n:05d}",
        status,
    )


def dropped_row(n: int, reason: str) -> tuple[str, ...]:
    return (f"item-{n}", "2024-01-31T12:00:00", f"Item {n}", "", reason)


def as_items(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, str]]:
    return [dict(zip(columns, (str(v) for v in row), strict=True)) for row in rows]


def default_config(job_id: str) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "model": "Item",
        "access": None,
        "member_of": "http://repo.example/fcrepo/rest/dc/2021/2",
        "container": "/dc/2021/2",
        "binaries_location": "data",
    }


@attrs.define
class JobFolders:
    """Builds job folders under `root` (JOBS_DIR)."""

    root: Path

    def folder(self, job_id: str) -> Path:
        return self.root / job_id_segment(job_id)

    def make(
        self,
        job_id: str,
        *,
        config: dict[str, Any] | str | None = "default",
        total: int | None = 3,
        completed: Sequence[Sequence[Any]] | None = (),
        runs: dict[str, dict[str, Sequence[Sequence[Any]]]] | None = None,
    ) -> Path:
        """A job folder. `config`: a mapping (written as YAML), raw text, or None for none;
        `total`: data rows in source.csv (None: no source.csv); `completed`: rows of
        completed.log.csv (None: no file); `runs`: timestamp -> {"failed": rows, "invalid":
        rows} (a missing key: no such file)."""
        folder = self.folder(job_id)
        folder.mkdir(parents=True)
        if config == "default":
            config = default_config(job_id)
        if isinstance(config, dict):
            (folder / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        elif isinstance(config, str):
            (folder / "config.yml").write_text(config)
        if total is not None:
            rows = [(f"item-{n}", f"Item {n}", "Image") for n in range(total)]
            (folder / "source.csv").write_text(csv_text(SOURCE_COLUMNS, rows))
        if completed is not None:
            (folder / "completed.log.csv").write_text(csv_text(COMPLETED_COLUMNS, completed))
        for stamp, logs in (runs or {}).items():
            run = folder / stamp
            run.mkdir()
            for kind in ("failed", "invalid"):
                if kind in logs:
                    text = csv_text(DROPPED_COLUMNS, logs[kind])
                    (run / f"dropped-{kind}.log.csv").write_text(text)
        return folder


def write_config(tmp_path: Path, jobs_dir: Path, port: int = 0) -> Path:
    path = tmp_path / "plastrond.yml"
    path.write_text(CONFIG_TEMPLATE.format(log_dir=tmp_path / "logs", jobs_dir=jobs_dir, port=port))
    return path


@attrs.define
class Server:
    url: str
    port: int
    client: httpx.AsyncClient
    stop: trio.Event

    def job_path(self, job_id: str) -> str:
        return "/jobs/" + quote(job_id, safe="")


async def raw_get(port: int, target: str, *, method: str = "GET") -> tuple[int, bytes]:
    """Send a request line exactly as written (no client-side normalisation of `..` or
    percent-escapes) and return the status and body. Reads by Content-Length, since the
    server may keep the connection open."""
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            request = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
            await stream.send_all(request.encode("latin-1"))
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = await stream.receive_some()
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if method == "HEAD":
                return status, b""
            while len(body) < length:
                chunk = await stream.receive_some()
                if not chunk:
                    break
                body += chunk
            return status, body
