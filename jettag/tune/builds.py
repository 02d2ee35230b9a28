"""The builds a search needs, each made once: keyed by the build settings and the ingested data.

A trial that sets a ``build`` key (the ordering, the invariant inputs) trains on a build of its own. Every
combination is built once, with the build stage's own functions, into ``<builds_dir>/<key>/`` (the layout
of ``results/build``), where ``key`` is a hash of the build settings and of the ingest shards and summary
it reads; ``build.json`` in it, written last, says what it was built from and that it is whole. A build
is made in a hidden directory beside it and renamed into place when done, under a lock, so that searches
running side by side (one job per tagger) build a combination once and never read half of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from jettag.features import build_split, fit_standardisation
from jettag.jetclass import SPLITS
from jettag.settings import BuildSettings
from jettag.shards import write_text_atomically

__all__ = ["build_key", "cached_build", "group_shards"]

log = logging.getLogger(__name__)

#: written last into a finished build: its settings and inputs
BUILD_RECORD = "build.json"


def group_shards(shards: Sequence[str | Path]) -> dict[str, list[Path]]:
    """Ingest shards (``<file>/<split>.arrow``) by split; every split must have at least one."""
    grouped: dict[str, list[Path]] = {split: [] for split in SPLITS}
    for shard in map(Path, shards):
        if shard.suffix != ".arrow" or shard.stem not in grouped:
            raise ValueError(
                f"{shard}: not an ingest shard (expected <file>/<split>.arrow, the split one of "
                f"{', '.join(SPLITS)})"
            )
        grouped[shard.stem].append(shard)
    missing = [split for split, paths in grouped.items() if not paths]
    if missing:
        raise ValueError(f"no ingest shards of the {', '.join(missing)} split among the {len(shards)} given")
    return {split: sorted(paths) for split, paths in grouped.items()}


def _data_identity(shards: Mapping[str, Sequence[Path]], ingest_summary: str | Path) -> dict[str, Any]:
    """What a build is built from besides its settings: the shards and the summary's content."""
    summary = Path(ingest_summary).read_bytes()
    return {
        "shards": {split: [str(path) for path in paths] for split, paths in shards.items()},
        "ingest_summary": hashlib.sha256(summary).hexdigest(),
    }


def build_key(
    settings: BuildSettings, shards: Mapping[str, Sequence[Path]], ingest_summary: str | Path
) -> str:
    """The name of the build of ``settings`` on these shards (12 hex digits of a SHA-256)."""
    text = json.dumps(
        {"settings": settings.to_dict(), "data": _data_identity(shards, ingest_summary)}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_build(
    builds_dir: str | Path,
    shards: Mapping[str, Sequence[Path]],
    ingest_summary: str | Path,
    settings: BuildSettings,
) -> tuple[str, Path]:
    """``(key, directory)`` of the build of ``settings`` on ``shards``, built now if it is not there yet."""
    builds_dir = Path(builds_dir)
    key = build_key(settings, shards, ingest_summary)
    target = builds_dir / key
    if (target / BUILD_RECORD).is_file():
        return key, target
    builds_dir.mkdir(parents=True, exist_ok=True)
    with _locked(builds_dir / f".{key}.lock"):
        if (target / BUILD_RECORD).is_file():  # built by another search while this one waited
            return key, target
        partial = builds_dir / f".{key}.partial"
        for leftover in (partial, target):  # a build killed midway, never renamed or never finished
            if leftover.exists():
                shutil.rmtree(leftover)
        log.info("building %s: %s", target, settings.to_dict())
        fit_standardisation(shards["train"], settings, partial / "standardisation.json")
        for split in SPLITS:
            build_split(
                split,
                shards[split],
                partial / "standardisation.json",
                settings,
                partial / split,
                ingest_summary,
            )
        record = {"settings": settings.to_dict(), "data": _data_identity(shards, ingest_summary)}
        write_text_atomically(partial / BUILD_RECORD, json.dumps(record, indent=1) + "\n")
        partial.rename(target)
    return key, target
