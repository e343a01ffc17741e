"""The manifest of a checkpoint directory: every file it holds, with the SHA-256 of its bytes.

A checkpoint is only as trustworthy as its bytes: a flipped bit in `model.safetensors` still parses
and loads as slightly different weights, with no error anywhere. So every directory r1mini writes
ends with `manifest.json`, written last (atomically) over the files already in place:

    {"format": "r1mini-checkpoint", "r1mini_version": "0.1.0", "config_sha256": "…",
     "dtype": "float32", "files": {"model.safetensors": {"bytes": 3611720, "sha256": "…"}, …}}

Reading a checkpoint starts with `verify_manifest`: a file whose bytes changed, or that is missing,
is named before anything is parsed. Because the manifest is written last, a directory without one
is a save that never finished (`IncompleteCheckpointError`), which is what crash recovery in
`r1mini.training.state` relies on. Files the manifest does not list are never read.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
FORMAT = "r1mini-checkpoint"
_CHUNK = 1 << 20


class IncompleteCheckpointError(FileNotFoundError):
    """The directory has no manifest: its save never finished, or r1mini did not write it."""


class ChangedCheckpointError(ValueError):
    """A file the manifest lists is missing or its bytes differ from what was saved."""


def r1mini_version() -> str:
    try:
        return metadata.version("r1mini")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB chunks (never the whole file in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_json(value: Any) -> str:
    """The SHA-256 of `value` as canonical JSON (sorted keys, no spaces): a hash of content, not
    of formatting."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def listed_files(directory: Path) -> list[str]:
    """Every file below `directory` (subdirectories included) a manifest covers, as POSIX paths
    relative to it: all but the manifest itself and the hidden temporaries of unfinished writes."""
    return sorted(
        path.relative_to(directory).as_posix()
        for path in directory.rglob("*")
        if path.is_file() and path.name != MANIFEST and not path.name.startswith(".")
    )


def build_manifest(directory: str | Path, **fields: Any) -> dict[str, Any]:
    """The manifest of `directory` as it is now: `fields` (e.g. config_sha256, dtype) plus the
    size and SHA-256 of every file."""
    directory = Path(directory)
    files = {
        name: {"bytes": (directory / name).stat().st_size, "sha256": sha256_file(directory / name)}
        for name in listed_files(directory)
    }
    return {"format": FORMAT, "r1mini_version": r1mini_version(), **fields, "files": files}


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of `directory`, checked for shape (not yet against the files)."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise IncompleteCheckpointError(
            f"{path} is missing: the save of {Path(directory)} never finished, or r1mini did not write it"
        )
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ChangedCheckpointError(f"{path} is not valid JSON ({e})") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ChangedCheckpointError(f"{path} is not an r1mini manifest (format is not {FORMAT!r})")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("sha256"), str) and isinstance(v.get("bytes"), int)
        for v in files.values()
    ):
        raise ChangedCheckpointError(f"{path}: 'files' must map each file to its bytes and sha256")
    return manifest


def verify_manifest(directory: str | Path) -> dict[str, Any]:
    """Check every file `directory`'s manifest lists against its size and SHA-256; returns the
    manifest. Raises `IncompleteCheckpointError` without a manifest, `ChangedCheckpointError`
    naming the first file that is missing or whose bytes changed."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    for name, expected in manifest["files"].items():
        path = directory / name
        if ".." in Path(name).parts or not path.is_file():
            raise ChangedCheckpointError(f"{path} is missing: {directory} is incomplete or was changed")
        size = path.stat().st_size
        if size != expected["bytes"]:
            raise ChangedCheckpointError(
                f"{path} has changed since it was saved: {size:,} bytes, the manifest says "
                f"{expected['bytes']:,}"
            )
        if sha256_file(path) != expected["sha256"]:
            raise ChangedCheckpointError(
                f"{path} has changed since it was saved: its bytes no longer match the manifest's SHA-256"
            )
    return manifest
