"""A real Hydra multirun writes summary.csv / summary.md at the sweep root, failed jobs included;
user mistakes in a single run exit with status 2 and one line."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

from genolong.training.checkpoint import load_checkpoint
from tests.training.conftest import tiny
from tests.training.helpers import genolong_train


def test_multirun_over_models_writes_summary_with_failed_jobs(plasmid_store, tmp_path):
    sweep = tmp_path / "sweep"
    overrides = [o for o in tiny(plasmid_store, "trainer.max_steps=2", "data.batches_per_epoch=2")
                 if not o.startswith("data.batch_size=")]
    proc = subprocess.run(
        [genolong_train(), "-m", "model=reformer,longformer,transformer", "data.batch_size=2,0", *overrides,
         f"hydra.sweep.dir={sweep}"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(open(sweep / "summary.csv")))
    assert len(rows) == 6
    assert (sweep / "summary.md").read_text().count("\n") == 2 + 6
    done = [r for r in rows if r["status"] == "COMPLETED"]
    failed = [r for r in rows if r["status"] == "FAILED"]
    assert len(done) == 3 and len(failed) == 3
    assert {r["overrides"].split()[0] for r in done} == {"model=reformer", "model=longformer", "model=transformer"}
    for row in done:
        assert "data.batch_size=2" in row["overrides"]
        assert row["monitor"] == "val/macro_f1" and 0.0 <= float(row["best"]) <= 1.0
        assert int(row["steps"]) == 2
        assert float(row["tokens_per_s"]) > 0 and float(row["peak_mem_mb"]) > 0
        assert load_checkpoint(row["checkpoint"]).task == "annotate"
        assert Path(row["checkpoint"]).parent.parent.parent == sweep
    for row in failed:
        assert "data.batch_size=0" in row["overrides"]
        assert "batch_size" in row["error"] and row["best"] == ""


def test_user_error_exits_2_with_one_line(tmp_path):
    proc = subprocess.run(
        [genolong_train(), f"data.store_dir={tmp_path / 'nowhere'}", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("genolong-train: error:")]
    assert len(errors) == 1 and "not a token store" in errors[0]
