"""The network-free decoder: the ORF baseline's genes, then the self-trained start and coding
models, over structure probabilities whose evidence is exactly zero."""

from __future__ import annotations

import numpy as np

from genolong.annotate.orf_decode import (DecodeConfig, StructureClasses, frame_evidence, no_evidence,
                                          rna_models)
from genolong.data.annotation import read_annotation
from genolong.data.genome import open_genome
from genolong.data.structure import STRUCTURE_CLASSES
from genolong.data.tokenizer import KmerTokenizer
from genolong.evaluate import metrics as M
from genolong.evaluate import no_network, orf_baseline

RECORDS = ["NZ_LAEX01000004.1", "NZ_LAEX01000005.1"]  # 41.6 kbp + 34.9 kbp of Afade


def test_the_decoder_sees_exactly_zero_evidence(data_dir):
    names = list(STRUCTURE_CLASSES)
    classes = StructureClasses.from_names(names)
    tok = KmerTokenizer(6)
    with open_genome(data_dir / "mycoides_Afade.fna.gz") as genome:
        records = no_network.records(genome, RECORDS, tok)
    for seqid, _, length, probs in records:
        assert probs.shape == (tok.n_tokens(length), len(names))
        ev = frame_evidence(probs, classes, tok.k, tok.stride, DecodeConfig().clip)
        assert ev.shape == (2, 3, probs.shape[0]) and not ev.any()  # every frame and strand: exactly 0
        assert rna_models(seqid, probs, classes, tok.k, tok.stride, length, DecodeConfig()) == []


def test_self_trained_models_alone_move_the_orf_baseline(data_dir):
    """With no evidence, what changes the ORF baseline's genes is the start and coding models
    self-trained on them: a test genome this small needs a lower training minimum."""
    ref = [M.Interval(g.seqid, g.start, g.end, g.strand, g.biotype)
           for g in read_annotation(data_dir / "mycoides_Afade.gff3.gz")
           if g.seqid in RECORDS and g.biotype == "protein_coding"]
    with open_genome(data_dir / "mycoides_Afade.fna.gz") as genome:
        orf = M.coding_metrics(orf_baseline.call_genes(genome, RECORDS, 4), ref)
        too_few = no_network.call_genes(genome, RECORDS, 4, KmerTokenizer(6), DecodeConfig(table=4))
        trained = M.coding_metrics(no_network.call_genes(genome, RECORDS, 4, KmerTokenizer(6),
                                                         DecodeConfig(table=4, start_min_genes=30)), ref)
    # fewer first-pass genes than start_min_genes (100): no model is trained and the first pass stands
    assert M.coding_metrics(too_few, ref) == orf
    assert trained["recall"] > orf["recall"] + 0.1 and trained["exact_start"] > orf["exact_start"]
    assert trained["f1"] > orf["f1"] + 0.05
