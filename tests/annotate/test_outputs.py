"""Output files: GFF3 (parsed by gffutils), BED9 rules, genes.tsv coverage, atomicity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genolong.annotate import Annotator
from genolong.annotate.decode import Segment
from genolong.annotate.genes import GeneCall
from genolong.annotate.probs import load_probs
from genolong.annotate.writers import write_bed, write_genes_tsv, write_gff3
from genolong.data.annotation import read_annotation
from genolong.data.tokenizer import KmerTokenizer

from .helpers import BIOTYPE, LocalNet


def _seg(seqid, start, end, strand, label, score=0.8, functions=()):
    return Segment(seqid, start, end, strand, label, score, start // 6, end // 6, np.array([0.2, 0.8]), functions)


def test_gff3_parses_with_gffutils_and_round_trips(tmp_path):
    import gffutils  # a dependency of genolong: no skip
    segs = [_seg("chr 1;x", 0, 120, "+", "protein_coding"),
            _seg("chr 1;x", 300, 420, "-", "a=b;c,d&e%"),
            _seg("plasmid", 10, 70, ".", "GO:0005524;GO:0016020", 0.61234, ("GO:0005524", "GO:0016020"))]
    path = tmp_path / "p.gff3"
    write_gff3(path, segs, {"chr 1;x": 1000, "plasmid": 80})
    text = path.read_text()
    assert text.startswith("##gff-version 3\n")
    assert "##sequence-region chr%201%3Bx 1 1000\n" in text and "##sequence-region plasmid 1 80\n" in text
    db = gffutils.create_db(str(path), ":memory:", merge_strategy="error")
    feats = list(db.all_features(order_by=("seqid", "start")))
    assert len(feats) == 3
    back = {(f.seqid, f.start - 1, f.end, f.strand): f for f in feats}
    f = back[("chr%201%3Bx", 300, 420, "-")]  # gffutils keeps column 1 escaped
    assert f.source == "genolong" and f.featuretype == "gene"
    assert f.attributes["function"] == ["a=b;c,d&e%"]  # unescaped by the reader
    g = back[("plasmid", 10, 70, ".")]
    assert g.attributes["function"] == ["GO:0005524", "GO:0016020"]
    assert float(g.score) == pytest.approx(0.6123)


def test_bed9_column_rules(tmp_path):
    classes = ["intergenic", "protein_coding", "tRNA"]
    segs = [_seg("c", 0, 120, "+", "protein_coding", 1.0), _seg("c", 200, 275, "-", "tRNA", 0.0),
            _seg("c", 300, 360, ".", "protein_coding", 0.5)]
    path = tmp_path / "p.bed"
    write_bed(path, segs, classes)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("track ") and 'itemRgb="On"' in lines[0]
    colours = {}
    for line in lines[1:]:
        cols = line.split("\t")
        assert len(cols) == 9
        start, end, score, thick_start, thick_end = map(int, (cols[1], cols[2], cols[4], cols[6], cols[7]))
        assert 0 <= start < end and 0 <= score <= 1000 and cols[5] in "+-."
        assert start <= thick_start <= thick_end <= end
        rgb = [int(v) for v in cols[8].split(",")]
        assert len(rgb) == 3 and all(0 <= v <= 255 for v in rgb)
        assert " " not in cols[3]
        colours.setdefault(cols[3], set()).add(cols[8])
    assert [int(l.split("\t")[4]) for l in lines[1:]] == [1000, 0, 500]
    assert all(len(v) == 1 for v in colours.values())  # one colour per class ...
    assert colours["protein_coding"] != colours["tRNA"]  # ... and a different one per class


def test_genes_tsv_covers_every_reference_gene_on_the_annotated_records(tmp_path, data_dir):
    fasta, gff = data_dir / "mycoides_Afade.fna.gz", data_dir / "mycoides_Afade.gff3.gz"
    records = ["NZ_LAEX01000004.1", "NZ_LAEX01000005.1", "NZ_LAEX01000006.1"]
    reference = [g for g in read_annotation(gff) if g.seqid in records]
    ann = Annotator(LocalNet(4101, 4), KmerTokenizer(6), BIOTYPE, window=512, batch_size=16, progress=False)
    result = ann.annotate(fasta, reference=read_annotation(gff), seqids=records)
    paths = result.write(tmp_path / "afade")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["afade.gff3", "afade.bed", "afade.genes.tsv", "afade.probs.npz"])
    table = pd.read_csv(paths["genes.tsv"], sep="\t")
    assert len(table) == len(reference) and set(table["gene_id"]) == {g.gene_id for g in reference}
    pcols = [f"p_{c}" for c in BIOTYPE.classes]
    np.testing.assert_allclose(table[pcols].sum(axis=1), 1.0, atol=2e-3)
    assert (table["source"] == "reference").all()
    assert set(table["label"]) <= set(BIOTYPE.classes)
    probs = load_probs(paths["probs.npz"])
    assert probs.seqids == records == list(result.lengths)
    for s in probs.seqids:
        assert probs.probs[s].dtype == np.float16
        np.testing.assert_allclose(probs.probs[s], result.probs[s], atol=1e-3)


def test_genes_tsv_without_reference_lists_predictions(tmp_path):
    calls = [GeneCall("c", 0, 60, "+", "g1", "g1", "tRNA", "tRNA", 0.9, np.array([0.1, 0.9]))]
    write_genes_tsv(tmp_path / "x.tsv", calls, ["intergenic", "tRNA"])
    table = pd.read_csv(tmp_path / "x.tsv", sep="\t")
    assert list(table.columns[-2:]) == ["p_intergenic", "p_tRNA"] and table.loc[0, "source"] == "predicted"


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    import genolong.annotate.probs as probs_mod

    ann = Annotator(LocalNet(4101, 4), KmerTokenizer(6), BIOTYPE, window=64, progress=False)
    from .helpers import fasta_from

    fasta = fasta_from({"c": b"ACGTTGCA" * 500}, tmp_path / "g.fa")
    result = ann.annotate(fasta)

    def killed(zf, name, array, dtype=None):
        zf.fp.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(probs_mod, "_write_npy", killed)
    with pytest.raises(KeyboardInterrupt):
        result.write(tmp_path / "out" / "x")
    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "x.probs.npz" not in left and not [n for n in left if n.endswith(".tmp")]


def test_checkpoint_without_a_matching_annotation_head_is_refused(tmp_path, data_dir, capsys):
    from genolong.cli import main

    from .helpers import TINY_ENCODER, save_checkpoint

    genome = str(data_dir / "NC_005816.gb")
    mlm = save_checkpoint(TINY_ENCODER, BIOTYPE, KmerTokenizer(6), tmp_path / "mlm.ckpt", task="mlm", n_outputs=4101)
    wide = save_checkpoint(TINY_ENCODER, BIOTYPE, KmerTokenizer(6), tmp_path / "wide.ckpt", n_outputs=7)
    for ckpt, needle in ((mlm, "mlm"), (wide, "7 classes")):
        assert main(["annotate", "--checkpoint", str(ckpt), "--genome", genome, "--out", str(tmp_path / "o" / "x")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())
    good = save_checkpoint(TINY_ENCODER, BIOTYPE, KmerTokenizer(6), tmp_path / "good.ckpt")
    assert main(["annotate", "--checkpoint", str(good), "--genome", genome, "--out", str(tmp_path / "o" / "x"),
                 "--no-progress", "--device", "cpu"]) == 0
    assert (tmp_path / "o" / "x.gff3").read_text().startswith("##gff-version 3\n##sequence-region NC_005816.1 1 9609\n")
