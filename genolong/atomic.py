"""Atomic file writes: write beside the target, fsync, then rename.

A reader never sees a half-written output, and a killed process leaves only a hidden
temporary file that the next run overwrites.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from genolong.errors import GenolongError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto `path` on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        # mkstemp creates 0600; give the output the mode an ordinary open() would have
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """`open()` that only replaces `path` once the block finishes without an exception."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def check_writable(path: str | os.PathLike, what: str, folder: bool = False) -> None:
    """Refuse, before any work, an output `path` that cannot be written: a parent that is a file,
    a folder the user may not write (permissions, `chattr +i`, a read-only mount), or `path`
    itself of the wrong kind (a file where a folder goes, or the reverse)."""
    target = Path(path)
    if target.exists() and target.is_dir() != folder:
        kind = "a folder" if target.is_dir() else "a file"
        raise GenolongError(f"{target}: {what}: exists and is {kind}, expected {'a folder' if folder else 'a file'}")
    place = target if folder and target.is_dir() else target.parent
    while not place.exists() and place != place.parent:
        place = place.parent
    if not place.is_dir():
        raise GenolongError(f"{target}: {what}: {place} is a file, not a folder")
    if not os.access(place, os.W_OK | os.X_OK):
        raise GenolongError(f"{target}: {what}: cannot write in {place} (permission denied or read-only)")
