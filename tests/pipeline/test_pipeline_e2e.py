"""End to end: the real `snakemake` on a tiny config in a temporary directory.

Train on two genomes at once (`train_genomes:`): the embedded GM12 chromosome, given by its path
alone (the label scheme comes from the experiment: GO), and the Y. pestis plasmid, which has no
GO terms (it trains the structure head only), with two tiny experiments, fetch one Afade contig over HTTP from a server on 127.0.0.1, annotate and evaluate
it, write the summary and the HTML report; then check the rerun logic: nothing to do on a
second run, and an edited experiment reruns only its own branch.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "data"
EXPERIMENTS = ("reformer", "longformer")
# Tiny CPU settings: a few optimizer steps, one validation, a small model.
TINY = [
    "trainer.max_steps=8",
    "data.batches_per_epoch=8",
    "scheduler.warmup_steps=1",
    "data.window=128",
    "data.batch_size=4",
    "model.d_model=32",
    "model.n_layers=2",
    "model.d_ff=64",
    "model.n_heads=2",
    "trainer.enable_progress_bar=false",
    # two heads, as experiment=demo: gene models, and the per-gene function head beside them
    "task.structure_weight=1.0",
]


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), *args],
        capture_output=True, text=True, timeout=timeout, env=_env(),
    )
    return result


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Parse the `job  count` table of a dry run."""
    counts: dict[str, int] = {}
    for line in (result.stdout + result.stderr).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job"):
            counts[parts[0]] = int(parts[1])
    return counts


def write_config(workdir: Path, contig_url: str, gff_url: str, overrides: dict[str, list[str]]) -> None:
    fna = (FIXTURES / "afade_contig5.fna.gz").read_bytes()
    gff = (FIXTURES / "afade_contig5.gff3.gz").read_bytes()
    config = {
        "genomes": {
            "GM12": {"path": str(REPO / "data" / "mycoides_GM12.gbff.gz")},
            "plasmid": {"path": str(REPO / "tests" / "data" / "NC_005816.gb"),
                        "split": "contiguous:val=0.2;test=0.1;gap=100"},
            "contig5": {
                "url": contig_url,
                "sha256": hashlib.sha256(fna).hexdigest(),
                "annotation": {"url": gff_url, "sha256": hashlib.sha256(gff).hexdigest()},
                "labels": "go",
            },
        },
        "train_genomes": ["GM12", "plasmid"],
        "experiments": overrides,
        "evaluations": [{"genome": "contig5", "experiments": list(EXPERIMENTS)}],
        "threads": {"train": 1, "annotate": 1, "evaluate": 1, "prepare": 1},
        # the ORF net, as cheap as fit-genes goes: one epoch, one weight beside 0
        "gene_caller": {"enabled": True, "args": ["--epochs", "1", "--weights", "30", "--biases", "0"]},
        # the TIS net, as cheap: one epoch, one weight beside 0
        "start_caller": {"enabled": True, "args": ["--epochs", "1", "--weights", "20"]},
        "rna_caller": str(REPO / "data" / "rna_caller.pt"),
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture
def pipeline_run(http_server, tmp_path):
    contig_url = http_server.serve("/afade_contig5.fna.gz", (FIXTURES / "afade_contig5.fna.gz").read_bytes())
    gff_url = http_server.serve("/afade_contig5.gff3.gz", (FIXTURES / "afade_contig5.gff3.gz").read_bytes())
    overrides = {
        "reformer": ["model=reformer", "model.bucket_size=16", *TINY],
        "longformer": ["model=longformer", "model.attention_window=16", *TINY],
    }
    write_config(tmp_path, contig_url, gff_url, overrides)
    result = snakemake(tmp_path, "-c2")
    logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted((tmp_path / "logs").rglob("*.log")))
    assert result.returncode == 0, result.stderr[-6000:] + logs
    return tmp_path, contig_url, gff_url, overrides


def test_pipeline_end_to_end(pipeline_run):
    workdir, contig_url, gff_url, overrides = pipeline_run

    # fetched over HTTP, verified, decompression left to the readers
    fna = workdir / "resources/genomes/contig5/afade_contig5.fna.gz"
    assert fna.read_bytes() == (FIXTURES / "afade_contig5.fna.gz").read_bytes()
    assert (workdir / "results/stores/GM12/meta.json").is_file()
    for experiment in EXPERIMENTS:
        # each experiment made its own store of every training genome, sharing GM12's GO terms
        stores = workdir / f"results/train/{experiment}/stores"
        gm12 = json.loads((stores / "GM12" / "meta.json").read_text())
        plasmid = json.loads((stores / "plasmid" / "meta.json").read_text())
        assert gm12["labels"]["scheme"] == "go" and plasmid["labels"] == gm12["labels"]
        assert plasmid["n_labelled_genes"] == 0 and gm12["transl_table"] == 4
        assert gm12["structure"]["classes"][1] == "CDS0(+)"

    for experiment in EXPERIMENTS:
        assert (workdir / f"results/train/{experiment}/checkpoints/best.ckpt").stat().st_size > 0
        # the per-gene function head and the homology index of the training proteins, beside the checkpoint
        fitted = json.loads((workdir / f"results/train/{experiment}/function.json").read_text())
        assert fitted["fitted"] and 0.0 <= fitted["alpha"] <= 1.0 and fitted["n_val"] > 0
        # the ORF net beside the checkpoint, fitted on the training stores with weight 0 among the choices
        genes_fit = json.loads((workdir / f"results/train/{experiment}/fit_genes.json").read_text())
        assert genes_fit, genes_fit
        # fitted after the TIS net, whose starts its weight was chosen with
        assert genes_fit["start_caller"].endswith(f"{experiment}/checkpoints/start_caller.pt"), genes_fit["start_caller"]
        starts_fit = json.loads((workdir / f"results/train/{experiment}/fit_starts.json").read_text())
        assert starts_fit["weight"] in (0.0, 20.0) and set(starts_fit["grid"]) == {"0", "20"}, starts_fit
        for name in ("gene_function.pt", "homology.json.gz", "homology.json.gz.sha256", "gene_caller.pt",
                     "start_caller.pt"):
            assert (workdir / f"results/train/{experiment}/checkpoints/{name}").is_file(), name
        assert (workdir / f"results/train/{experiment}/metrics.json").is_file()
        prefix = workdir / f"results/annotate/contig5/{experiment}"
        for suffix in (".gff3", ".bed", ".genes.tsv", ".probs.npz"):
            assert Path(f"{prefix}{suffix}").stat().st_size > 0, suffix
        check_gff3(Path(f"{prefix}.gff3"))
        # annotate read the ORF net beside the checkpoint and called RNA genes with the shipped network
        log = (workdir / f"logs/annotate/contig5/{experiment}.log").read_text()
        assert "gene caller: 3 ORF nets (mean logit) from" in log and "rna_caller.pt" in log, log[-2000:]
        evaluation = workdir / f"results/evaluate/contig5/{experiment}"
        assert (evaluation / "metrics.json").is_file()
        assert (evaluation / "report.md").is_file()
        assert list(evaluation.glob("*.png")), "evaluate wrote no plots"
    # two-head models call genes as ORFs only where the structure head is confident, which 8
    # training steps do not make it: the gene models may be empty

    rows = (workdir / "results/report/summary.tsv").read_text().splitlines()
    header = rows[0].split("\t")
    assert header[:2] == ["genome", "system"]
    assert {"protein-coding F1", "gene Fmax", "product agreement", "coverage"} <= set(header)
    systems = [dict(zip(header, r.split("\t"))) for r in rows[1:]]
    orf = [r for r in systems if "orf" in r["system"]]
    assert len(orf) == 1 and float(orf[0]["protein-coding F1"]) > 0.5  # the no-learning baseline on contig 5
    model_rows = [r for r in systems if r["system"] in EXPERIMENTS]
    assert sorted(r["system"] for r in model_rows) == sorted(EXPERIMENTS)
    assert all(r["genome"] == "contig5" for r in model_rows)
    assert any(r["system"].startswith("baseline: ") for r in systems)
    names = {r["system"] for r in systems}
    for experiment in EXPERIMENTS:  # the parts of the function output, each scored on its own
        assert {f"{experiment} (network alone)", f"{experiment} (homologs alone)"} <= names
    for row in model_rows:
        assert float(row["train time (s)"]) > 0
        assert float(row["train tokens/s"]) > 0
    md = (workdir / "results/report/summary.md").read_text()
    assert all(f"| {x} |" in md for x in EXPERIMENTS)

    # a second run has nothing to do
    again = snakemake(workdir, "-n", "-c2")
    assert again.returncode == 0, again.stderr
    assert "Nothing to be done" in again.stdout + again.stderr

    # editing one experiment's overrides reruns that branch only
    edited = dict(overrides, longformer=[*overrides["longformer"], "optimizer.lr=5e-4"])
    write_config(workdir, contig_url, gff_url, edited)
    plan = snakemake(workdir, "-n", "-c2", "--quiet", "rules")
    assert plan.returncode == 0, plan.stderr
    assert planned_jobs(plan) == {"train": 1, "fit_function": 1, "fit_genes": 1, "fit_starts": 1, "annotate": 1,
                                  "evaluate": 1, "report": 1, "all": 1}
    assert "results/train/longformer" in snakemake(workdir, "-n", "-c2").stdout

    # the HTML report gathers the plots and the summary
    report = snakemake(workdir, "--report", str(workdir / "report.html"))
    assert report.returncode == 0, report.stderr[-4000:]
    html = (workdir / "report.html").read_text(errors="replace")
    assert len(html) > 10_000 and "summary.tsv" in html

    # a run killed mid-training leaves nothing that a later run takes for complete
    kill_during_train(workdir, "longformer")
    assert not (workdir / "results/train/longformer/checkpoints/best.ckpt").exists()
    after_kill = snakemake(workdir, "-n", "-c2")
    text = after_kill.stdout + after_kill.stderr
    assert "results/train/longformer" in text and "Nothing to be done" not in text


def kill_during_train(workdir: Path, experiment: str) -> None:
    """Start the edited branch, SIGKILL snakemake and its jobs once training has begun."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), "-c1",
         f"results/train/{experiment}/checkpoints/best.ckpt"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(), start_new_session=True,
    )
    # Snakemake marks a job's outputs incomplete in .snakemake/incomplete/ when the job starts
    incomplete = workdir / ".snakemake" / "incomplete"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if incomplete.is_dir() and any(incomplete.iterdir()):
                break
            time.sleep(0.1)
        time.sleep(1.0)  # let genolong-train start
        assert proc.poll() is None, "the train job finished before it could be killed"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def check_gff3(path: Path) -> int:
    """Parse the GFF3 with gffutils (an independent parser) and genolong's reader; count features."""
    import gffutils

    from genolong.data.annotation import read_annotation

    text = path.read_text()
    assert text.startswith("##gff-version 3")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    assert all(len(row) == 9 for row in rows)
    if not rows:
        return 0
    with gzip.open(FIXTURES / "afade_contig5.fna.gz", "rt") as fh:
        seqid = fh.readline()[1:].split()[0]
    db = gffutils.create_db(str(path), ":memory:", merge_strategy="create_unique")
    features = list(db.all_features())
    assert len(features) == len(rows)
    assert all(f.seqid == seqid and 1 <= f.start <= f.end <= 34_901 for f in features)
    assert all(g.seqid == seqid for g in read_annotation(path))
    return len(features)
