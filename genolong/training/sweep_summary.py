"""Hydra callback: one summary table at the root of a multirun, failed jobs included.

Each job leaves `job_status.json` in its run directory (written when the job ends, in the job's
own process, so it works with any launcher, SLURM included). When the sweep ends, the rows are
joined with each job's `metrics.json` into `<sweep dir>/summary.csv` and `summary.md`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from genolong.atomic import atomic_write_text

STATUS_FILE = "job_status.json"
METRICS_FILE = "metrics.json"
ERROR_FILE = "error.txt"
COLUMNS = ("job", "overrides", "status", "monitor", "best", "steps", "tokens_per_s", "peak_mem_mb",
           "checkpoint", "error")


def _error_text(job_return: Any) -> str:
    try:
        job_return.return_value
    except Exception as exc:  # the job's own exception, re-raised by Hydra's JobReturn
        text = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {text[0] if text else ''}".strip()
    return ""


class SweepSummary(Callback):
    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        hydra_cfg = getattr(job_return, "hydra_cfg", None) or config
        runtime = hydra_cfg.hydra.runtime
        status = {
            "job": int(hydra_cfg.hydra.job.get("num", 0) or 0),
            "overrides": list(job_return.overrides or []),
            "status": getattr(job_return.status, "name", str(job_return.status)),
            "error": _error_text(job_return),
        }
        atomic_write_text(Path(runtime.output_dir) / STATUS_FILE, json.dumps(status, indent=2) + "\n")

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = collect_rows(sweep_dir)
        write_summary(sweep_dir, rows)
        failed = sum(row["status"] == "FAILED" for row in rows)
        print(f"sweep summary: {len(rows)} jobs, {failed} failed: {sweep_dir / 'summary.md'}")


def collect_rows(sweep_dir: Path) -> list[dict]:
    rows = []
    for status_path in sorted(Path(sweep_dir).rglob(STATUS_FILE)):
        status = json.loads(status_path.read_text())
        metrics_path = status_path.parent / METRICS_FILE
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        error_path = status_path.parent / ERROR_FILE
        error = error_path.read_text().strip() if error_path.is_file() else status.get("error", "")
        failed = bool(error) or status.get("status") != "COMPLETED"
        rows.append(
            {
                "job": status.get("job", ""),
                "overrides": " ".join(status.get("overrides", [])),
                "status": "FAILED" if failed else "COMPLETED",
                "monitor": metrics.get("monitor", ""),
                "best": metrics.get("best_score", ""),
                "steps": metrics.get("global_step", ""),
                "tokens_per_s": metrics.get("tokens_per_s", ""),
                "peak_mem_mb": metrics.get("peak_mem_mb", ""),
                "checkpoint": metrics.get("best_checkpoint", ""),
                "error": error,
            }
        )
    rows.sort(key=lambda r: (r["job"] if isinstance(r["job"], int) else 0))
    return rows


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_summary(sweep_dir: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(Path(sweep_dir) / "summary.csv", buffer.getvalue())
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [_fmt(row[c]).replace("|", "\\|").replace("\n", " ") for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    atomic_write_text(Path(sweep_dir) / "summary.md", "\n".join(lines) + "\n")
