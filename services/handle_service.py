"""A stand-in for UMD's umd-handle service (its JSON API v1, as shared/reference/handles.md
describes it), for tests: nobody can run umd-handle here. Standard library only.

    python3 services/handle_service.py --port 3010 --state DIR

Serves `http://127.0.0.1:PORT/api/v1`. The bearer token is read from DIR/token (made once,
random); every request without it is a 401. Handles are kept in DIR/handles.json, written
atomically after each change, so they survive calls and restarts. Besides the API, `GET
/api/v1/_state` (token required too) lists every handle, for tests to count what was minted.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import os
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

BASE = "/api/v1"
FIELDS = ("url", "repo", "repo_id", "description", "notes")
REQUIRED = ("prefix", "url", "repo", "repo_id")


class Store:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "handles.json"
        self.lock = threading.Lock()
        if self.path.exists():
            data = json.loads(self.path.read_text())
        else:
            data = {"next": 1, "handles": {}}
        self.next: int = data["next"]
        self.handles: dict[str, dict[str, Any]] = data["handles"]

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as f:
            json.dump({"next": self.next, "handles": self.handles}, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def handle_url(prefix: str, suffix: str) -> str:
    return f"https://hdl.handle.net/{prefix}/{suffix}"


def make_handler(store: Store, token: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def errors(self, status: int, *messages: str) -> None:
            self.answer(status, {"errors": list(messages)})

        def authorized(self) -> bool:
            # Read the body first, whatever the answer, so the connection stays in step.
            length = int(self.headers.get("Content-Length") or 0)
            self.raw = self.rfile.read(length) if length else b""
            scheme, _, given = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
                return True
            self.errors(401, "Not Authenticated")
            return False

        def route(self) -> tuple[list[str], dict[str, str]] | None:
            parts = urlsplit(self.path)
            if not parts.path.startswith(BASE + "/"):
                self.errors(404, "not found")
                return None
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            return parts.path[len(BASE) + 1 :].split("/"), query

        def body(self) -> dict[str, Any] | None:
            try:
                data = json.loads(self.raw or b"{}")
            except ValueError:
                self.errors(400, "the request body is not JSON")
                return None
            if not isinstance(data, dict):
                self.errors(400, "the request body must be a JSON object")
                return None
            return data

        def do_GET(self) -> None:
            if not self.authorized():
                return
            routed = self.route()
            if routed is None:
                return
            segments, query = routed
            with store.lock:
                if segments == ["handles", "info"]:
                    missing = [f"{k} is required" for k in ("prefix", "suffix") if not query.get(k)]
                    if missing:
                        return self.errors(400, *missing)
                    key = f"{query['prefix']}/{query['suffix']}"
                    found = store.handles.get(key)
                    body: dict[str, Any] = {"request": query, "exists": found is not None}
                    if found is not None:
                        body.update(
                            handle_url=handle_url(found["prefix"], found["suffix"]),
                            prefix=found["prefix"],
                            suffix=found["suffix"],
                            url=found["url"],
                            repo=found["repo"],
                            repo_id=found["repo_id"],
                        )
                    return self.answer(200, body)
                if segments == ["handles", "exists"]:
                    missing = [f"{k} is required" for k in ("repo", "repo_id") if not query.get(k)]
                    if missing:
                        return self.errors(400, *missing)
                    found = next(
                        (
                            h
                            for h in store.handles.values()
                            if h["repo"] == query["repo"] and h["repo_id"] == query["repo_id"]
                        ),
                        None,
                    )
                    body = {"request": query, "exists": found is not None}
                    if found is not None:
                        body.update(
                            handle_url=handle_url(found["prefix"], found["suffix"]),
                            prefix=found["prefix"],
                            suffix=found["suffix"],
                            url=found["url"],
                        )
                    return self.answer(200, body)
                if segments == ["_state"]:
                    return self.answer(200, {"handles": list(store.handles.values())})
                if len(segments) == 3 and segments[0] == "handles":
                    found = store.handles.get(f"{segments[1]}/{segments[2]}")
                    if found is None:
                        return self.errors(404, "handle not found")
                    return self.answer(200, {"url": found["url"]})
            self.errors(404, "not found")

        def do_POST(self) -> None:
            if not self.authorized():
                return
            routed = self.route()
            if routed is None:
                return
            segments, _ = routed
            if segments != ["handles"]:
                return self.errors(404, "not found")
            data = self.body()
            if data is None:
                return
            problems = [f"{k} is required" for k in REQUIRED if not str(data.get(k) or "").strip()]
            url = str(data.get("url") or "")
            if url and not url.startswith(("http://", "https://")):
                problems.append("url must be an http(s) URL")
            if problems:
                return self.errors(400, *problems)
            with store.lock:
                suffix = str(store.next)
                store.next += 1
                record = {"prefix": str(data["prefix"]), "suffix": suffix}
                record.update({k: str(data.get(k) or "") for k in FIELDS})
                store.handles[f"{record['prefix']}/{suffix}"] = record
                store.save()
            self.answer(
                200,
                {
                    "request": data,
                    "suffix": suffix,
                    "handle_url": handle_url(record["prefix"], suffix),
                },
            )

        def do_PATCH(self) -> None:
            if not self.authorized():
                return
            routed = self.route()
            if routed is None:
                return
            segments, _ = routed
            if len(segments) != 3 or segments[0] != "handles":
                return self.errors(404, "not found")
            data = self.body()
            if data is None:
                return
            unknown = [k for k in data if k not in FIELDS]
            if unknown:
                return self.errors(400, *(f"unknown field {k}" for k in unknown))
            if not data:
                return self.errors(400, "nothing to update")
            if "url" in data and not str(data["url"]).startswith(("http://", "https://")):
                return self.errors(400, "url must be an http(s) URL")
            with store.lock:
                found = store.handles.get(f"{segments[1]}/{segments[2]}")
                if found is None:
                    return self.errors(404, "handle not found")
                found.update({k: str(v) for k, v in data.items()})
                store.save()
            self.answer(
                200,
                {
                    "request": data,
                    "suffix": found["suffix"],
                    "handle_url": handle_url(found["prefix"], found["suffix"]),
                },
            )

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3010)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--pidfile", type=Path, help="written once the port is bound")
    args = parser.parse_args()
    args.state.mkdir(parents=True, exist_ok=True)
    token_file = args.state / "token"
    if not token_file.exists():
        tmp = args.state / f"token.{os.getpid()}"
        tmp.write_text(secrets.token_urlsafe(24))
        tmp.chmod(0o600)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, token_file)  # the first start makes the token; others keep it
        tmp.unlink()
    token = token_file.read_text().strip()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(Store(args.state), token))
    server.daemon_threads = True
    if args.pidfile is not None:
        tmp_pid = args.pidfile.with_name(f"{args.pidfile.name}.{os.getpid()}")
        tmp_pid.write_text(f"{os.getpid()}\n")
        os.replace(tmp_pid, args.pidfile)
    server.serve_forever()


if __name__ == "__main__":
    main()
