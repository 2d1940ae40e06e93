"""Snakemake configs that cannot work are refused at parse time, before the first job (issue 21
case 12): exit != 0, a message naming the key, no Python traceback, no job run."""

from __future__ import annotations

import pytest
import yaml

from tests.pipeline.test_workflow_static import REPO, snakemake


def _ecoli(c):
    """The E. coli recipe as conf/experiment/ecoli.yaml describes it: genomes by path only."""
    c["genomes"].update(Sakai={"path": "data/ecoli_O157H7_Sakai.gbk.gz"}, IAI39={"path": "data/ecoli_IAI39.gbk.gz"})
    c.update(train_genomes=["Sakai", "IAI39"], experiments={"ecoli": ["experiment=ecoli"]}, evaluations=[])


def _experiment(*overrides):
    return lambda c: c["experiments"].update(extra=list(overrides))


ROWS = {
    "train genome unknown": (lambda c: c.update(train_genomes=["GM12", "Nope"]), "train_genomes 'Nope' is not in genomes"),
    "train genomes empty": (lambda c: c.update(train_genomes=[]), "train_genomes"),
    "train genomes not a list": (lambda c: c.update(train_genomes="GM12"), "train_genomes"),
    "bad sha256": (lambda c: c["genomes"]["GM12"].update(sha256="abc"), "sha256"),
    "url and path": (lambda c: c["genomes"]["GM12"].update(url="https://example.org/x.gbff"), "GM12"),
    "url scheme": (lambda c: c["genomes"].update(X={"url": "gopher://example.org/x.gbff"}), "gopher"),
    "genome name": (lambda c: c["genomes"].update({"bad name!": {"path": "data/x.fa"}}), "bad name!"),
    "genome of no source": (lambda c: c["genomes"].update(X={"sha256": "0" * 64}), "X"),
    "empty labels": (lambda c: c["genomes"]["GM12"].update(labels=""), "labels"),
    "unknown genome key": (lambda c: c["genomes"]["GM12"].update(lables="go"), "lables"),
    "annotation same name": (lambda c: c["genomes"].update(
        X={"path": "a/x.gff3", "annotation": {"path": "b/x.gff3"}}), "X: sequence and annotation share a file name"),
    "override without =": (lambda c: c["experiments"].update(broken=["no equals sign"]), "no equals sign"),
    "experiment name": (lambda c: c["experiments"].update({"bad name": ["seed=1"]}), "bad name"),
    "override of no key": (_experiment("foo=1"), "config: experiments: extra: its overrides do not compose"),
    "override of no config": (_experiment("model=nonexistent"), "config: experiments: extra: its overrides do not compose"),
    "override syntax": (_experiment("seed=[1"), "config: experiments: extra: its overrides do not compose"),
    "too short to validate": (_experiment("experiment=demo", "trainer.max_steps=5", "data.batches_per_epoch=50"),
                              "trainer.max_steps=5 is below data.batches_per_epoch=50"),
    "labels the store lacks": (_ecoli, "config: genomes: Sakai: no labels:, so its store"),
    "experiment label scheme": (_experiment("experiment=demo", "prepare.labels=biotype"),
                                "experiment extra trains with 'biotype'"),
    "evaluation experiment": (lambda c: c["evaluations"].append({"genome": "Afade", "experiments": ["ghost"]}),
                              "unknown experiment 'ghost'"),
    "evaluation genome": (lambda c: c["evaluations"].append({"genome": "Ghost", "experiments": ["reformer"]}),
                          "unknown genome 'Ghost'"),
    "evaluation without experiments": (lambda c: c["evaluations"].append({"genome": "Afade"}), "experiments"),
    "threads zero": (lambda c: c["threads"].update(train=0), "threads"),
    "threads of no rule": (lambda c: c["threads"].update(dance=2), "dance"),
    "unknown top-level key": (lambda c: c.update(experimentz={}), "experimentz"),
}
# the two refusals new in issue 21 run by default (each a snakemake dry run, ~2 s); the rest with -m slow
FAST = ["labels the store lacks", "too short to validate"]


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in ROWS])
def test_config_that_cannot_work_is_refused_before_any_job(name, tmp_path):
    config = yaml.safe_load((REPO / "workflows" / "config.yaml").read_text())
    edit, message = ROWS[name]
    edit(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake("-n", "--directory", str(REPO), "--configfile", str(path))
    text = result.stdout + result.stderr
    assert result.returncode != 0, text
    assert message in text, text
    assert "Traceback (most recent call last)" not in text, text
    assert "Job stats" not in text and "rule " not in result.stdout  # no job was planned


def test_the_ecoli_recipe_with_its_scheme_on_the_store_is_accepted(tmp_path):
    config = yaml.safe_load((REPO / "workflows" / "config.yaml").read_text())
    _ecoli(config)
    config["genomes"]["Sakai"]["labels"] = "product"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake("-n", "--directory", str(REPO), "--configfile", str(path), "--quiet", "rules")
    assert result.returncode == 0, result.stdout + result.stderr
