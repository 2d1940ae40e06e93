"""What every bad-input table checks: a refused command exits 2 with one line naming the fault,
no traceback, and leaves the user's files as they were (no output under a final name)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from genolong.cli import main


def snapshot(root: Path) -> dict:
    """Every file under `root` but FASTA indexes (.fai), which reading a FASTA may add."""
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and p.suffix != ".fai"}


def immutable(folder: Path) -> bool:
    """Make `folder` unwritable even for root (`chattr +i`); False where that is not possible."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    chattr = shutil.which("chattr")
    return bool(chattr) and subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode == 0


def refused(command: str, argv: list[str], root: Path, capsys, fragment: str, blocked: Path | None = None) -> str:
    """Run `genolong COMMAND ARGV` and check the refusal; `blocked`: a folder made unwritable for
    the run and writable again after it. Returns the error line."""
    before = snapshot(root)
    try:
        rc = main([command, *argv])
    finally:
        if blocked is not None:
            subprocess.run(["chattr", "-i", str(blocked)], capture_output=True)
            blocked.chmod(0o755)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"genolong {command}: error: ") and fragment in lines[0], lines[0]
    assert snapshot(root) == before  # nothing of the user's changed, no output appeared
    return lines[0]
