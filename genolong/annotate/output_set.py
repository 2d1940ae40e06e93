"""An annotation's output files (PREFIX.gff3, .bed, .genes.tsv, ...) written as one unit.

Every file of the set is first written into one hidden temporary folder beside the prefix, and
only when all of them are complete are they renamed into place, one after another. So a run
killed or failing while writing (a kill, a full disk, a gene the GenBank writer refuses) leaves
the previous run's set as it was, never new files beside old ones; and the next run removes the
temporary folder a killed run left (`genolong.atomic.clean_stale`). A prefix that would make an
output path one of the run's inputs is refused before anything is written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable

from genolong.atomic import check_writable, clean_stale, temp_prefix
from genolong.errors import GenolongError

# extension -> a function that writes that file to the path it is given
Writers = dict[str, Callable[[Path], None]]


def output_paths(prefix: str | os.PathLike, extensions: Iterable[str]) -> dict[str, Path]:
    return {ext: Path(f"{prefix}.{ext}") for ext in extensions}


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(prefix: str | os.PathLike, extensions: Iterable[str],
                  inputs: Iterable[str | os.PathLike | None] = ()) -> None:
    """Refuse, before any work, a prefix whose outputs cannot be written or would overwrite an
    input (`--genome x.gbk --out x`)."""
    given = [Path(p) for p in inputs if p is not None]
    for ext, path in output_paths(prefix, extensions).items():
        for source in given:
            if _same(path, source) or path.resolve() == source.resolve():
                raise GenolongError(f"{path}: --out {prefix}: this output would overwrite the input {source}; "
                                    "choose another prefix")
        check_writable(path, "--out")


def write_set(prefix: str | os.PathLike, writers: Writers,
              inputs: Iterable[str | os.PathLike | None] = ()) -> dict[str, Path]:
    """Write PREFIX.<ext> with each writer, all or none; returns {ext: final path}."""
    paths = output_paths(prefix, writers)
    check_outputs(prefix, writers, inputs)
    anchor = Path(f"{prefix}.set")  # the name the temporary folder is made (and cleaned) under
    anchor.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(anchor)
    work = Path(tempfile.mkdtemp(prefix=temp_prefix(anchor), suffix=".tmp", dir=anchor.parent))
    try:
        staged = {}
        for ext, write in writers.items():
            staged[ext] = work / paths[ext].name
            write(staged[ext])
        for ext, path in paths.items():
            os.replace(staged[ext], path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return paths
