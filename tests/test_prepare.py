"""`genolong prepare` end to end on real genomes, read back through TokenStore."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from genolong.errors import GenolongError

from genolong.data.annotation import read_annotation
from genolong.cli import main
from genolong.data.labels import UNKNOWN, go_terms
from genolong.data.store import TokenStore
from genolong.data.tokenizer import KmerTokenizer


@pytest.fixture(scope="module")
def gm12_store(tmp_path_factory, default_genome):
    out = tmp_path_factory.mktemp("stores") / "gm12"
    assert main(["prepare", "--genome", str(default_genome), "--labels", "go", "--out", str(out)]) == 0
    return TokenStore(out)


def test_default_genome_go_store(gm12_store, default_genome):
    store = gm12_store
    (seqid,) = store.seqids
    tok = store.tokenizer
    assert tok == KmerTokenizer(6, 6)
    tokens, targets = store.tokens(seqid), store.targets(seqid)
    assert isinstance(tokens, np.memmap) and tokens.dtype == np.uint16
    assert tokens.shape == (store.records[seqid]["n_tokens"],) == (tok.n_tokens(store.records[seqid]["length"]),)
    assert store.labels.kind == "multilabel" and store.labels.classes[0] == "genic"
    assert store.labels.n_outputs == 21 and targets.shape == (tokens.size, 21)
    # tokens are exactly the tokenized record
    from Bio import SeqIO

    with gzip.open(default_genome, "rt") as fh:
        seq = str(next(SeqIO.parse(fh, "genbank")).seq)
    assert np.array_equal(tokens, tok.encode(seq))
    # genic fraction matches the bp coverage of gene parts, computed independently
    genes = read_annotation(default_genome)
    covered = np.zeros(len(seq), dtype=bool)
    for g in genes:
        for s, e, _ in g.parts:
            covered[s:e] = True
    centres = np.arange(tokens.size) * tok.stride + tok.k // 2
    assert np.array_equal(targets[:, 0].astype(bool), covered[centres])
    assert abs(targets[:, 0].mean() - covered.mean()) < 0.005
    assert 0.90 < targets[:, 0].mean() < 0.94
    # unknown function: tokens covered by a gene without any GO term, and only those
    no_go = np.zeros(len(seq), dtype=bool)
    n_with_go = 0
    for g in genes:
        if go_terms(g):
            n_with_go += 1
        else:
            for s, e, _ in g.parts:
                no_go[s:e] = True
    assert n_with_go == 389  # data README: 389 CDS carry GO terms
    unknown_rows = (targets[:, 1:] == UNKNOWN).any(axis=1)
    assert np.array_equal(unknown_rows, no_go[centres])
    assert (targets[~no_go[centres], 1:] != UNKNOWN).all()
    assert set(np.unique(targets[:, 1:])) <= {0, 1, UNKNOWN}
    assert set(np.unique(targets[:, 0])) == {0, 1}


def test_store_files_and_split(gm12_store, default_genome):
    store = gm12_store
    meta = json.loads((store.path / "meta.json").read_text())
    assert meta["format"] == 1 and meta["tokenizer"]["vocab_hash"] == store.tokenizer.vocab_hash
    assert json.loads((store.path / "labels.json").read_text()) == store.labels.to_dict()
    assert meta["inputs"]["genome"]["sha256"] == meta["inputs"]["annotation"]["sha256"]
    import hashlib

    assert meta["inputs"]["genome"]["sha256"] == hashlib.sha256(default_genome.read_bytes()).hexdigest()
    genes = store.genes()
    assert len(genes) == 900
    regions = {s: store.regions(s) for s in ("train", "val", "test")}
    assert all(len(r) == 1 for r in regions.values())
    tr, va, te = regions["train"][0], regions["val"][0], regions["test"][0]
    assert tr.tok_end < va.tok_start < va.tok_end < te.tok_start  # gaps between blocks
    assert va.start - tr.end >= 10_000 and te.start - va.end >= 10_000
    n = store.records[tr.seqid]["n_tokens"]
    assert abs(va.n_tokens / n - 0.1) < 0.005 and abs(te.n_tokens / n - 0.1) < 0.005
    for r in (tr, va, te):
        assert r.tok_start * 6 >= r.start and (r.tok_end - 1) * 6 + 6 <= r.end
    assert meta["split"]["sizes"]["val"] == va.n_tokens


@pytest.mark.parametrize("name,scheme", [("NC_005816.gb", "biotype"), ("D10483.gbk", "attribute:product")])
def test_prepare_small_genbank(tmp_path, data_dir, name, scheme):
    out = tmp_path / "store"
    assert main(["prepare", "--genome", str(data_dir / name), "--labels", scheme, "--k", "4", "--stride", "2",
                 "--split", "contiguous:val=0.15;test=0.15;gap=500", "--out", str(out)]) == 0
    store = TokenStore(out)
    (seqid,) = store.seqids
    tokens, targets = store.tokens(seqid), store.targets(seqid)
    assert store.tokenizer == KmerTokenizer(4, 2) and tokens.shape == targets.shape
    assert store.labels.kind == "single" and store.labels.classes[0] == "intergenic"
    assert 0 < (targets != 0).mean() < 1
    assert {r.tok_start for r in store.regions("val")} and store.regions("test")[0].tok_end <= tokens.size
    genes = store.genes()
    assert len(genes) == len(read_annotation(data_dir / name))
    assert sum(1 for g in genes if g.attributes["labels"]) > 0


def test_chloroplast_naive_split_leaks_and_single_copy_split_does_not(tmp_path, data_dir, capsys):
    patterns = data_dir / "chloroplast_gene_functions.tsv"
    base = ["prepare", "--genome", str(data_dir / "NC_000932.gb"), "--labels", f"pattern:{patterns}"]
    # train then takes all of IR B (84-110 kbp) and test lies in IR A, its reverse-complement copy
    naive = ["--split", "contiguous:val=0.1;test=0.1;gap=1k"]
    assert main([*base, *naive, "--out", str(tmp_path / "naive")]) == 2
    err = capsys.readouterr().err
    assert "occur verbatim (or reverse-complemented) in val/test" in err and "--max-leak" in err
    assert not (tmp_path / "naive").exists()
    # val in the large single-copy region, test in the small single-copy region
    spec = "regions:val=NC_000932.1:40000-60000;test=NC_000932.1:110000-125000;gap=2k"
    assert main([*base, "--split", spec, "--out", str(tmp_path / "ok")]) == 0
    store = TokenStore(tmp_path / "ok")
    meta = json.loads((tmp_path / "ok" / "meta.json").read_text())
    assert meta["split"]["leak"]["leaked_tiles"] == 0 and meta["inputs"]["labels"]["sha256"]
    # intergenic + the 12 table classes (the 6 unnamed RNAs fold onto trna / rrna)
    assert len(store.regions("train")) == 3 and store.labels.n_outputs == 13
    t = store.targets("NC_000932.1")
    assert set(np.unique(t)) <= set(range(store.labels.n_outputs))  # every gene has a class
    # allowing the leak turns the refusal into a warning
    assert main([*base, *naive, "--allow-leak", "--out", str(tmp_path / "forced")]) == 0
    assert "WARNING" in capsys.readouterr().err


def test_inspect(gm12_store, capsys):
    assert main(["inspect", str(gm12_store.path)]) == 0
    out = capsys.readouterr().out
    assert "NZ_CP001668.1" in out and "1,084,586" in out and "180,764" in out
    assert "GO:0006412" in out and "translation" in out and "train" in out and "test" in out


def test_prepare_replaces_an_existing_store(tmp_path, data_dir):
    out = tmp_path / "s"
    args = ["prepare", "--genome", str(data_dir / "NC_005816.gb"), "--labels", "biotype", "--split", "contiguous:gap=100", "--out", str(out)]
    assert main(args) == 0
    assert main([*args[:-2], "--k", "3", "--out", str(out)]) == 0
    assert TokenStore(out).tokenizer.k == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_check_compatible_takes_objects_or_dicts():
    from genolong.data.labels import LabelVocab
    from genolong.data.store import check_compatible
    from genolong.data.tokenizer import KmerTokenizer

    go = LabelVocab("go", "multilabel", ["genic", "GO:0005524"])
    check_compatible("x", KmerTokenizer(3), go, KmerTokenizer(3).to_dict(), go.to_dict())
    with pytest.raises(GenolongError, match=r"x: checkpoint tokenizer \(k=3, stride=3\) does not match the requested one \(k=6"):
        check_compatible("x", KmerTokenizer(3), expect_tokenizer=KmerTokenizer(6))
    with pytest.raises(GenolongError, match="labels .scheme 'go', 2 classes. do not match"):
        check_compatible("x", labels=go, expect_labels=LabelVocab("biotype", "single", ["intergenic", "CDS"]))
