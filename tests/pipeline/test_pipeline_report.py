"""The summary table: rows per model and per baseline, headline metrics, clear errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from genolong.evaluate import pipeline_report as pr
from genolong.errors import GenolongError

BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write_train(tmp: Path, name: str, seconds: float | None, tokens_per_s: float) -> pr.TrainRun:
    run = tmp / "train" / name
    run.mkdir(parents=True)
    metrics = {"monitor": "val/auprc_micro", "best_score": 0.25, "tokens_per_s": tokens_per_s,
               "final": {"train/tokens_per_s": 1.0, "val/auprc_micro": 0.2}}
    if seconds is not None:
        metrics["seconds"] = seconds
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "bench.tsv").write_text(BENCH_HEADER + "42.5\t0:00:42\t100\t0\t0\t0\t0\t0\t0\t1\n")
    return pr.TrainRun(name, run / "metrics.json", run / "bench.tsv")


def write_eval(tmp: Path, genome: str, name: str, genic_f1: float) -> pr.EvaluationRun:
    out = tmp / "evaluate" / genome / name
    out.mkdir(parents=True)
    segment = {"overall": {"precision": 0.5, "recall": 0.25, "f1": 1 / 3},
               "by_biotype": {"tRNA": {"precision": 0.9, "recall": 0.9, "f1": 0.9}}}
    metrics = {
        "meta": {"total_bp": 1000},
        "model": {"token": {"genic_f1": genic_f1, "micro_auprc": 0.1, "average_precision": {"GO:1": 0.3}},
                  "gene": {"fmax": 0.2, "precision": 0.7}, "segment": segment},
        "baselines": {"term_prior": {"token": {"genic_f1": 0.9}, "gene": {"fmax": 0.3}},
                      "pyrodigal": {"segment": segment, "mode": "meta"}},
    }
    (out / "metrics.json").write_text(json.dumps(metrics))
    bench = tmp / f"annotate_{genome}_{name}.tsv"
    bench.write_text(BENCH_HEADER + "7.25\t0:00:07\t100\t0\t0\t0\t0\t0\t0\t1\n")
    return pr.EvaluationRun(genome, name, out, bench)


def test_rows_per_model_and_baseline(tmp_path):
    train = [write_train(tmp_path, "reformer", 30.0, 2000.0), write_train(tmp_path, "longformer", None, 8000.0),
             write_train(tmp_path, "unevaluated", 5.0, 100.0)]
    evals = [write_eval(tmp_path, "Afade", "reformer", 0.8), write_eval(tmp_path, "Afade", "longformer", 0.7)]
    rows = pr.summarize(train, evals)
    assert [r["system"] for r in rows] == [
        "reformer", "longformer", "unevaluated", "baseline: term_prior", "baseline: pyrodigal"]
    reformer, longformer, unevaluated, prior, prodigal = rows
    assert reformer["token genic F1"] == 0.8 and longformer["token genic F1"] == 0.7
    # nested paths are taken exactly: segment.overall, not by_biotype; gene.precision is not segment's
    assert reformer["segment precision"] == 0.5 and reformer["segment F1"] == pytest.approx(1 / 3)
    assert reformer["train time (s)"] == 30.0 and reformer["train tokens/s"] == 2000.0
    assert longformer["train time (s)"] == 42.5  # no `seconds`: the job's benchmark wall time
    assert reformer["annotate time (s)"] == 7.25 and reformer["val metric"] == "val/auprc_micro"
    assert unevaluated["genome"] == "" and "token genic F1" not in unevaluated
    assert prior == {"genome": "Afade", "system": "baseline: term_prior", "token genic F1": 0.9, "gene Fmax": 0.3}
    assert "token genic F1" not in prodigal and prodigal["segment recall"] == 0.25


def test_cli_writes_tsv_and_markdown(tmp_path):
    train = write_train(tmp_path, "reformer", 30.0, 2000.0)
    ev = write_eval(tmp_path, "Afade", "reformer", 0.8)
    tsv, md = tmp_path / "report" / "summary.tsv", tmp_path / "report" / "summary.md"
    result = subprocess.run(
        [sys.executable, "-m", "genolong.evaluate.pipeline_report", "--train", "reformer", str(train.metrics),
         str(train.benchmark), "--evaluation", "Afade", "reformer", str(ev.evaluate_dir), str(ev.benchmark),
         "--tsv", str(tsv), "--md", str(md)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    with open(tsv, newline="") as fh:
        table = list(csv.DictReader(fh, delimiter="\t"))
    assert [r["system"] for r in table] == ["reformer", "baseline: term_prior", "baseline: pyrodigal"]
    assert table[0]["token genic F1"] == "0.8" and table[0]["train tokens/s"] == "2000.0"
    lines = md.read_text().splitlines()
    header = next(line for line in lines if line.startswith("| genome"))
    body = [line for line in lines if line.startswith("| Afade")]
    assert len(body) == 3 and all(line.count("|") == header.count("|") for line in body)


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda ev, tr: (ev.evaluate_dir / "metrics.json").unlink(), "no such file"),
        (lambda ev, tr: (ev.evaluate_dir / "metrics.json").write_text("{oops"), "line 1: not valid JSON"),
        (lambda ev, tr: (ev.evaluate_dir / "metrics.json").write_text('{"meta": {}}'), "no `model` section"),
        (lambda ev, tr: ev.benchmark.write_text("x\ty\n1\t2\n"), "not a Snakemake benchmark file"),
    ],
)
def test_broken_inputs_are_named(tmp_path, breakage, message):
    tr = write_train(tmp_path, "reformer", 30.0, 2000.0)
    ev = write_eval(tmp_path, "Afade", "reformer", 0.8)
    breakage(ev, tr)
    with pytest.raises(GenolongError, match=message):
        pr.summarize([tr], [ev])


def test_evaluation_without_training_run(tmp_path):
    ev = write_eval(tmp_path, "Afade", "ghost", 0.8)
    with pytest.raises(GenolongError, match="ghost"):
        pr.summarize([], [ev])
