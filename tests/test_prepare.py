"""`genolong prepare` end to end on real genomes, read back through TokenStore."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from genolong.annotation import read_annotation
from genolong.cli import main
from genolong.labels import UNKNOWN, go_terms
from genolong.store import TokenStore
from genolong.tokenizer import KmerTokenizer


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
