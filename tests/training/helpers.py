"""Reading what a training run left behind."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def logged(run_dir: Path, key: str) -> list[tuple[int, float]]:
    """(step, value) pairs of one metric from the CSV logger's metrics.csv."""
    rows = list(csv.DictReader(open(Path(run_dir) / "csv" / "metrics.csv")))
    return [(int(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]


def metrics(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "metrics.json").read_text())


def genolong_train() -> str:
    """The installed console script, next to this interpreter."""
    import shutil
    import sys

    script = Path(sys.executable).with_name("genolong-train")
    return str(script) if script.exists() else shutil.which("genolong-train")
