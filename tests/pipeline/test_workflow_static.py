"""The workflow parses, lints clean, validates its config and dry-runs under the SLURM profile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(*args: str, cwd: Path = REPO, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


def test_lint_is_clean(tmp_path):
    result = snakemake("--lint", "--directory", str(REPO))
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_default_config_dry_run_plans_every_stage():
    # --forceall: plan every job even where an earlier `make demo` left results
    result = snakemake("-n", "--forceall", "--directory", str(REPO), "--quiet", "rules")
    assert result.returncode == 0, result.stderr + result.stdout
    text = result.stdout + result.stderr
    config = yaml.safe_load((REPO / "workflows" / "config.yaml").read_text())
    n_files = sum(1 + ("annotation" in g) for g in config["genomes"].values())
    n_eval = sum(len(e["experiments"]) for e in config["evaluations"])
    for rule, count in [("fetch", n_files), ("prepare", 1), ("baseline", 1), ("train", len(config["experiments"])),
                        ("annotate", n_eval), ("evaluate", n_eval), ("report", 1)]:
        assert any(line.split() == [rule, str(count)] for line in text.splitlines()), (rule, text)


def test_local_profile_parses():
    result = snakemake("-n", "--forceall", "--directory", str(REPO), "--profile", str(REPO / "workflows/profiles/local"))
    assert result.returncode == 0, result.stderr + result.stdout
    text = result.stdout + result.stderr
    assert "genolong-train hydra.run.dir=results/train/reformer experiment=demo" in text
    assert "results/train/reformer/stores/mm5713" in text


def test_slurm_profile_parses():
    result = snakemake(
        "-n", "--forceall", "--directory", str(REPO), "--profile", str(REPO / "workflows/profiles/slurm")
    )
    assert result.returncode == 0, result.stderr + result.stdout
    text = result.stdout + result.stderr
    assert "slurm_partition=gpu" in text and "gpu=1" in text


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.update(train_genomes=["GM12", "Nope"]), "train_genomes 'Nope' is not in genomes"),
        (lambda c: c.update(train_genomes=[]), "train_genomes"),
        (lambda c: c["genomes"]["GM12"].update(sha256="abc"), "sha256"),
        (lambda c: c["genomes"]["GM12"].update(url="https://example.org/x.gbff"), "GM12"),
        (lambda c: c["experiments"].update(broken=["no equals sign"]), "no equals sign"),
        (lambda c: c["evaluations"].append({"genome": "Afade", "experiments": ["ghost"]}), "unknown experiment 'ghost'"),
    ],
)
def test_bad_config_is_refused(tmp_path, edit, message):
    config = yaml.safe_load((REPO / "workflows" / "config.yaml").read_text())
    edit(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake("-n", "--directory", str(REPO), "--configfile", str(path))
    assert result.returncode != 0
    assert message in result.stdout + result.stderr



def test_training_genome_is_scored_on_its_test_split_only(tmp_path):
    config = yaml.safe_load((REPO / "workflows" / "config.yaml").read_text())
    config["evaluations"] = [{"genome": "GM12", "experiments": ["longformer"]},
                             {"genome": "Afade", "experiments": ["longformer"]}]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake("-n", "-p", "--forceall", "--directory", str(REPO), "--configfile", str(path))
    assert result.returncode == 0, result.stderr + result.stdout
    commands = [line for line in result.stdout.splitlines() if "genolong evaluate" in line]
    on_gm12 = [c for c in commands if "--out results/evaluate/GM12/" in c]
    on_afade = [c for c in commands if "--out results/evaluate/Afade/" in c]
    assert len(on_gm12) == len(on_afade) == 1
    assert "--store results/stores/GM12 --split test" in on_gm12[0]
    assert "--store" not in on_afade[0]
    assert "'GM12 (test split)'" in result.stdout
