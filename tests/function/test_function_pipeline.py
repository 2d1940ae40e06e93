"""Per-gene function end to end with the real code: a tiny GO model trained on GM12, its function
head and homology index fitted by `genolong fit-function`, two Afade contigs annotated (GFF3,
GenBank and FASTA with products, GO terms and INSDC inference, read back by gffutils and
Biopython), then `genolong evaluate`'s function rows."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from genolong.annotate.annotator import Annotator
from genolong.annotate.spill import SpillArray
from genolong.cli import main
from tests.annotate.helpers import STRUCTURE, OracleAnnotator, soft_probs, structure_targets


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, default_genome, data_dir):
    from genolong.training.train import compose_config, train

    root = tmp_path_factory.mktemp("function")
    store = root / "store"
    assert main(["prepare", "--genome", str(default_genome), "--labels", "go", "--out", str(store),
                 "--threads", "1"]) == 0
    cfg = compose_config(
        [f"data.store_dir={store}", "model=transformer", "model.d_model=16", "model.n_heads=2",
         "model.n_layers=1", "model.d_ff=32", "model.dropout=0.0", "data.window=128", "data.batch_size=4",
         "data.batches_per_epoch=4", "trainer.max_steps=8", "+trainer.limit_val_batches=2",
         "trainer.enable_progress_bar=false", "task.structure_weight=1.0"],
        output_dir=root / "run",
    )
    train(cfg)
    # a link in another folder, as a user keeps a model: the bundles go beside the link, where annotate looks
    ckpt = root / "model" / "model.ckpt"
    ckpt.parent.mkdir()
    ckpt.symlink_to(root / "run" / "checkpoints" / "last.ckpt")
    summary = root / "function.json"
    assert main(["fit-function", "--checkpoint", str(ckpt), "--store", str(store), "--epochs", "3", "--states",
                 "--threads", "1", "--no-progress", "--summary", str(summary)]) == 0
    # two Afade contigs (41 and 53 kbp) and their reference genes
    with gzip.open(data_dir / "mycoides_Afade.fna.gz", "rt") as fh:
        chunks = fh.read().split(">")[1:]
    keep = chunks[3:5]
    ids = [c.split()[0] for c in keep]
    fasta = root / "two.fa"
    fasta.write_text("".join(">" + c for c in keep))
    with gzip.open(data_dir / "mycoides_Afade.gff3.gz", "rt") as fh:
        lines = [ln for ln in fh if not ln.startswith("#") and ln.split("\t")[0] in ids]
    gff = root / "two.gff3"
    gff.write_text("##gff-version 3\n" + "".join(lines))
    return root, ckpt, store, fasta, gff, json.loads(summary.read_text())


def test_fit_function_saves_the_head_and_a_checksummed_index_beside_the_checkpoint(fitted):
    root, ckpt, _, _, _, summary = fitted
    assert summary["fitted"] and summary["n_train"] > 100 and summary["n_val"] > 10
    assert summary["alpha"] in [round(a, 2) for a in np.linspace(0, 1, 11)]
    assert summary["index_splits"] == ["train", "val"] and summary["n_indexed"] > summary["n_train"]
    for name in ("gene_function.pt", "homology.json.gz", "homology.json.gz.sha256"):
        assert (ckpt.parent / name).is_file() and not (ckpt.resolve().parent / name).exists()
    sidecar = (ckpt.parent / "homology.json.gz.sha256").read_text().split()[0]
    assert sidecar == summary["homology_sha256"]


class StatesOracle(OracleAnnotator):
    """The oracle's structure columns (8 training steps call no gene) with the real network's
    function columns and states, which the function head pools."""

    def _record(self, genome, seqid, length, bar, task, spill_file=None):
        real = Annotator._record(self, genome, seqid, length, bar, task, spill_file)
        k, stride = self.tokenizer.k, self.tokenizer.stride
        genes = [(g.start, g.end, g.strand, g.biotype) for g in self.reference if g.seqid == seqid]
        oracle = soft_probs(structure_targets(genes, real.n_rows, k, stride), len(STRUCTURE))
        out = SpillArray(real.n_cols)
        out.append(np.concatenate([real[:, : self.n_function], oracle, real[:, self.n_classes :]], axis=1))
        return out


def annotate_with_oracle(ckpt, fasta, gff, out, homology=True):
    from genolong.annotate.function import FunctionPredictor
    from genolong.data.annotation import read_annotation
    from genolong.training.checkpoint import load_checkpoint

    loaded = load_checkpoint(ckpt)
    predictor = FunctionPredictor.from_checkpoint(ckpt, use_homology=homology)
    reference = read_annotation(gff)
    ann = StatesOracle(reference, loaded.net, loaded.tokenizer, loaded.labels, window=128, progress=False,
                       structure_labels=loaded.structure_labels, transl_table=4, states=True, function=predictor)
    result = ann.annotate(str(fasta), reference=reference)
    return result.write(out)


def test_annotation_names_products_from_homologs_with_insdc_inference(fitted, capsys):
    import gffutils
    from Bio import SeqIO

    from genolong.data.annotation import read_annotation

    root, ckpt, _, fasta, gff, _ = fitted
    out = root / "pred"
    annotate_with_oracle(ckpt, fasta, gff, out)
    assert "network + homology" in capsys.readouterr().err
    db = gffutils.create_db(f"{out}.gff3", ":memory:", merge_strategy="create_unique")
    cds = list(db.features_of_type("CDS"))
    assert cds, "the tiny model called no gene"
    inference = [c.attributes["inference"][0] for c in cds]
    assert all(i.startswith(("similar to AA sequence:mycoides_GM12:", "ab initio prediction:genolong:"))
               for i in inference)
    transferred = [c for c in cds if c.attributes["inference"][0].startswith("similar to")]
    assert len(transferred) > len(cds) // 2  # GM12's orthologs name most of Afade's genes
    assert all(c.attributes["product"][0] != "hypothetical protein" for c in transferred)
    assert any("Ontology_term" in c.attributes for c in cds)
    # a called gene that is a reference gene carries the reference's product for most of them
    reference = {(g.seqid, g.start, g.end, g.strand): (g.attributes.get("product") or [""])[0]
                 for g in read_annotation(gff) if g.biotype == "protein_coding"}
    same = [(reference[k], c.attributes["product"][0]) for c in transferred
            if (k := (c.seqid, c.start - 1, c.end, c.strand)) in reference]
    assert same and np.mean([a.lower() == b.lower() for a, b in same]) > 0.6
    # GenBank and FASTA carry the same names (pseudogene fragments: a /pseudo CDS in GenBank, a
    # pseudogenic_CDS in GFF3, no protein)
    gbk_cds = [f for r in SeqIO.parse(f"{out}.gbk", "genbank") for f in r.features
               if f.type == "CDS" and "pseudo" not in f.qualifiers]
    assert [f.qualifiers["inference"][0] for f in gbk_cds] == inference
    assert [f.qualifiers["product"][0] for f in gbk_cds] == [c.attributes["product"][0] for c in cds]
    headers = [r.description for r in SeqIO.parse(f"{out}.faa", "fasta")]
    assert all(c.attributes["product"][0] in h for c, h in zip(cds, headers))


def test_without_the_index_the_network_alone_names_nothing(fitted, capsys):
    root, ckpt, _, fasta, gff, _ = fitted
    out = root / "alone"
    annotate_with_oracle(ckpt, fasta, gff, out, homology=False)
    assert "network alone (no homology index)" in capsys.readouterr().err
    text = open(f"{out}.gff3").read()
    assert "similar to AA sequence" not in text and "ab initio prediction:genolong:" in text
    # the CLI: the same flag, on the real (untrained, gene-less) network
    assert main(["annotate", "--checkpoint", str(ckpt), "--genome", str(fasta), "--out", str(root / "cli"),
                 "--no-homology", "--threads", "1", "--no-progress"]) == 0
    assert "network alone (no homology index)" in capsys.readouterr().err


def test_evaluate_scores_each_part_of_the_function(fitted):
    root, ckpt, _, fasta, gff, _ = fitted
    pred = root / "pred"
    if not (root / "pred.function.npz").is_file():
        annotate_with_oracle(ckpt, fasta, gff, pred)
    out = root / "eval"
    assert main(["evaluate", "--pred", str(pred), "--reference", str(gff), "--genome", str(fasta),
                 "--out", str(out), "--no-plots", "--threads", "1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    # the run's pseudogene pass is homology, not network: both gene callers without the network get it
    assert "the model run's pseudogene pass" in metrics["baselines"]["no network"]["rule"]
    with_pass = metrics["baselines"]["pyrodigal + pseudogene pass"]
    assert "the model run's pseudogene pass" in with_pass["rule"]
    assert with_pass["protein_coding"]["n_pred"] <= metrics["baselines"]["pyrodigal"]["protein_coding"]["n_pred"]
    parts = metrics["function_systems"]
    assert set(parts) == {"network alone", "homologs alone", "training prior"}
    model = metrics["model"]
    for system in (model, *parts.values()):
        assert set(system["function"]["bands"]) == {"≥90%", "50-90%", "30-50%", "<30% or no hit"}
        assert set(system["function"]["cafa"]) <= {"MF", "BP", "CC"}
    # GM12's homologs know Afade's function far better than the training prior
    assert parts["homologs alone"]["gene"]["fmax"] > parts["training prior"]["gene"]["fmax"] + 0.2
    assert model["function"]["coverage"] > 0.5 and parts["network alone"]["function"]["coverage"] == 0.0
    assert "gene_token_head" in model


@pytest.mark.slow  # a minute and a half on a loaded 2-core machine: the ORF net's epoch and two decodes of GM12
def test_fit_genes_writes_the_gene_caller_that_annotate_picks_up(fitted, capsys):
    """`genolong fit-genes` on the tiny store: gene_caller.pt beside the checkpoint (weights only),
    which `genolong annotate` uses and says so, and `--no-gene-caller` leaves out."""
    import shutil

    import torch

    root, ckpt, store, fasta, _, _ = fitted
    here = root / "genes"
    here.mkdir()
    mine = here / "model.ckpt"
    shutil.copy(ckpt, mine)
    plain = ["annotate", "--checkpoint", str(mine), "--genome", str(fasta), "--threads", "1", "--no-progress"]
    assert main([*plain, "--out", str(root / "before")]) == 0
    assert "gene caller:" not in capsys.readouterr().err
    summary = root / "genes.json"
    assert main(["fit-genes", "--checkpoint", str(mine), "--store", str(store), "--epochs", "1", "--weights", "30",
                 "--biases", "0", "--members", "2", "--threads", "1", "--no-progress", "--summary", str(summary)]) == 0
    fitted_genes = json.loads(summary.read_text())
    assert fitted_genes["n_train_stops"] > 1000 and fitted_genes["n_val_stops"] > 100
    assert [m["best_epoch"] for m in fitted_genes["members"]] == [1, 1]
    assert set(fitted_genes["grid"]) == {"0/0", "30/0"}  # weight/bias: the score never chooses starts
    assert fitted_genes["weight"] in (0.0, 30.0)
    raw = torch.load(here / "gene_caller.pt", weights_only=True)
    assert raw["recipe"]["weight"] == fitted_genes["weight"] and raw["config"]["members"] == 2
    a, b = (raw["state_dict"][f"members.{k}.out.weight"] for k in (0, 1))
    assert not torch.equal(a, b)  # seeds 0 and 1: two nets, not one twice
    assert main([*plain, "--out", str(root / "with")]) == 0
    assert f"weight {fitted_genes['weight']:g}" in capsys.readouterr().err
    assert main([*plain, "--no-gene-caller", "--out", str(root / "without")]) == 0
    assert "gene caller:" not in capsys.readouterr().err
    assert open(root / "without.gff3").read() == open(root / "before.gff3").read()
