"""Atomic file writes: write beside the target, fsync, then rename.

A reader never sees a half-written output. A killed process leaves only a hidden temporary
`.NAME.PID.XXXX.tmp` beside the target; the next write of the same target removes those whose
process is gone (`clean_stale`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterator

from genolong.errors import GenolongError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_prefix(target: Path) -> str:
    """The name start of `target`'s temporary siblings made by this process."""
    return f".{target.name}.{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def clean_stale(target: str | os.PathLike) -> None:
    """Remove the temporary siblings of `target` (files or folders) that a killed run left: those
    named by `temp_prefix` for a process that no longer runs. A live writer's are kept."""
    target = Path(target)
    try:
        siblings = list(target.parent.glob(f".{glob.escape(target.name)}.*.tmp"))
    except OSError:
        return
    for sibling in siblings:
        # exactly PID.RANDOM.tmp after the name: a sibling target's temporaries ("x.1" beside "x") differ
        own = re.fullmatch(r"(\d+)\.[^.]+\.tmp", sibling.name[len(target.name) + 2:])
        if own is None or _alive(int(own.group(1))):
            continue
        if sibling.is_dir() and not sibling.is_symlink():
            shutil.rmtree(sibling, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                sibling.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto `path` on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent)
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
