"""Atomic file writes: a crash mid-write never leaves a half-written file where a good one was.

The new content goes to a hidden temporary file beside the target (`.NAME.XXXX.tmp`, in the same
directory, so on the same file system), is flushed to disk, and is renamed over the target:
`os.replace` is atomic, so a reader sees the old file or the new one, never a mixture.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call `write(tmp_path)` on a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600: the user's usual permissions instead
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_temporaries(directory: str | Path) -> None:
    """Delete the temporaries that interrupted `atomic_write`s left in `directory`."""
    for leftover in Path(directory).glob(".*.tmp"):
        if leftover.is_file():
            leftover.unlink(missing_ok=True)
