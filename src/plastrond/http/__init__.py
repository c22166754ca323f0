"""The http mode: the import job API (and a page for people) that Archelon reads. The job
folders are read with `plastrond.jobfolders` (blocking; called in worker threads).

- `detail`: the JSON description of one job, written piece by piece.
- `page`: the HTML page listing the jobs and their state.
- `app`: the quart-trio application (`create_app`).
- `server`: `serve(config)`, hypercorn in the caller's trio run, stopping on SIGTERM/SIGINT.
"""

from __future__ import annotations

from .app import create_app
from .server import serve

__all__ = ["create_app", "serve"]
