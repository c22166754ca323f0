"""The content models in force, read once and again only when a model file changes."""

from __future__ import annotations

from pathlib import Path

import trio

from .schema import ModelSet, load_models, models_signature

__all__ = ["current_models"]

_cache: dict[Path | None, tuple[tuple[tuple[str, int, int], ...], ModelSet]] = {}
_lock = trio.Lock()


async def current_models(extra_dir: Path | None = None) -> ModelSet:
    """The shipped models plus those in *extra_dir*; files are read in a worker thread, and
    read again when one of them is added, removed or changed. Raises `ModelError`."""
    async with _lock:
        signature = await trio.to_thread.run_sync(models_signature, extra_dir)
        cached = _cache.get(extra_dir)
        if cached is not None and cached[0] == signature:
            return cached[1]
        models = await trio.to_thread.run_sync(load_models, extra_dir)
        _cache[extra_dir] = (signature, models)
        return models
