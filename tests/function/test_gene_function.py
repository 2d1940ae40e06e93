"""The per-gene function head: protein view, pooled states, blend, bundle round trip, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genolong.annotate.function import blend, load_bundle, pool_states, save_bundle, translate_gene
from genolong.models.gene_function import (GeneFunctionBundle, GeneFunctionConfig, GeneFunctionNet, encode_protein,
                                           pad_proteins, predict_gene_function)
from genolong.training.gene_function import GeneExamples, fit_gene_function, fmax_score

RNG = np.random.default_rng(0)
AA = np.array(list("ACDEFGHIKLMNPQRSTVWY"))


def random_protein(n: int, rng=RNG) -> str:
    return "M" + "".join(rng.choice(AA, n - 1))


def test_blend_at_alpha_zero_and_one_equals_each_part():
    network = RNG.random((5, 4))
    homology = RNG.random((5, 4))
    has_hit = np.array([True, True, False, True, False])
    np.testing.assert_array_equal(blend(network, homology, has_hit, 0.0), network)
    one = blend(network, homology, has_hit, 1.0)
    np.testing.assert_array_equal(one[has_hit], homology[has_hit])
    np.testing.assert_array_equal(one[~has_hit], network[~has_hit])  # no hit: the network alone
    np.testing.assert_allclose(blend(network, homology, has_hit, 0.25)[0], 0.25 * homology[0] + 0.75 * network[0])
    np.testing.assert_array_equal(blend(network, None, has_hit, 0.7), network)
    # trust by identity: one weight per gene
    per_gene = blend(network, homology, has_hit, np.array([1.0, 0.0, 1.0, 0.5, 0.0]))
    np.testing.assert_array_equal(per_gene[0], homology[0])
    np.testing.assert_array_equal(per_gene[1], network[1])
    np.testing.assert_allclose(per_gene[3], 0.5 * homology[3] + 0.5 * network[3])


@pytest.mark.parametrize("protein", ["kmer_bag", "cnn"])
@pytest.mark.parametrize("d_states", [0, 6])
def test_padding_never_changes_a_proteins_logits(protein, d_states):
    torch.manual_seed(0)
    net = GeneFunctionNet(GeneFunctionConfig(n_outputs=3, d_states=d_states, protein=protein, embed=8, filters=4,
                                             kernels=(3, 5), hidden=8, dropout=0.0)).eval()
    short, long = random_protein(20), random_protein(55)
    states = torch.randn(2, d_states)
    ids, pad = pad_proteins([encode_protein(short, 100), encode_protein(long, 100)])
    alone_ids, alone_pad = pad_proteins([encode_protein(short, 100)])
    with torch.no_grad():
        both = net(ids, pad, states if d_states else None)
        alone = net(alone_ids, alone_pad, states[:1] if d_states else None)
    assert both.shape == (2, 3)
    torch.testing.assert_close(both[:1], alone, rtol=1e-5, atol=1e-6)


def test_predictions_identical_on_one_and_two_threads():
    torch.manual_seed(2)
    net = GeneFunctionNet(GeneFunctionConfig(n_outputs=5, d_states=4, embed=8, hidden=8)).eval()
    proteins = [random_protein(int(n)) for n in RNG.integers(20, 300, 50)]
    states = RNG.standard_normal((50, 4)).astype(np.float32)
    before = torch.get_num_threads()
    one = predict_gene_function(net, proteins, states, batch_size=8, threads=1)
    two = predict_gene_function(net, proteins, states, batch_size=8, threads=2)
    assert torch.get_num_threads() == before
    assert one.shape == (50, 5)
    np.testing.assert_array_equal(one, two)


def test_bundle_round_trip_predicts_the_same(tmp_path):
    torch.manual_seed(1)
    cfg = GeneFunctionConfig(n_outputs=4, kind="single", d_states=3, embed=8, hidden=8)
    net = GeneFunctionNet(cfg).eval()
    proteins = [random_protein(30), random_protein(80)]
    states = RNG.standard_normal((2, 3)).astype(np.float32)
    path = tmp_path / "gene_function.pt"
    save_bundle(path, GeneFunctionBundle(cfg, net.state_dict(), ["a", "b", "c", "d"], {"alpha": 0.3}))
    loaded = load_bundle(path)
    assert loaded.outputs == ["a", "b", "c", "d"] and loaded.recipe == {"alpha": 0.3}
    np.testing.assert_allclose(predict_gene_function(loaded.build(), proteins, states),
                               predict_gene_function(net, proteins, states), rtol=1e-6)
    assert np.allclose(predict_gene_function(net, proteins, states).sum(axis=1), 1.0)  # softmax classes


def test_unreadable_bundle_is_one_clear_error(tmp_path):
    from genolong.errors import GenolongError

    path = tmp_path / "gene_function.pt"
    path.write_bytes(b"not a torch file")
    with pytest.raises(GenolongError, match="gene_function.pt: not a readable gene-function file"):
        load_bundle(path)


def test_training_learns_a_planted_motif():
    """Proteins carrying a motif have term 0, the others term 1; the head has to read the sequence."""
    rng = np.random.default_rng(3)
    proteins, targets = [], []
    for i in range(240):
        p = random_protein(int(rng.integers(60, 200)), rng)
        has = i % 2 == 0
        if has:
            at = int(rng.integers(1, len(p) - 8))
            p = p[:at] + "WCWHWCWH" + p[at + 8:]
        proteins.append(p)
        targets.append([1.0, 0.0] if has else [0.0, 1.0])
    y = np.array(targets, dtype=np.float32)
    states = np.zeros((len(proteins), 0), dtype=np.float32)
    train = GeneExamples(proteins[:200], states[:200], y[:200])
    val = GeneExamples(proteins[200:], states[200:], y[200:])
    cfg = GeneFunctionConfig(n_outputs=2, embed=32, hidden=32, dropout=0.1)
    net, summary = fit_gene_function(cfg, train, val, epochs=15, batch_size=16, seed=0)
    p = predict_gene_function(net, proteins[200:], None)
    assert fmax_score(y[200:], p) > 0.9
    assert summary["val_score"] > 0.9 and summary["n_train"] == 200


class _Genome:
    def __init__(self, seqs):
        self.seqs = seqs
        self.lengths = {s: len(seq) for s, seq in seqs.items()}

    def fetch(self, seqid, start=0, end=None):
        return self.seqs[seqid][start:end].encode()


class _Gene:
    def __init__(self, seqid, start, end, strand, parts=()):
        self.seqid, self.start, self.end, self.strand, self.parts = seqid, start, end, strand, parts


def test_translation_reads_ambiguous_and_stop_only_codons_as_x():
    # ATG AAA TAR(stop-only IUPAC) NNN TGG TAA
    seq = "ATGAAATARNNNTGGTAA"
    genome = _Genome({"c": "CC" + seq + "GG"})
    assert translate_gene(genome, _Gene("c", 2, 2 + len(seq), "+"), 11) == "MKXXW"
    from Bio.Seq import Seq

    rc = str(Seq("CC" + seq + "GG").reverse_complement())
    genome = _Genome({"c": rc})
    assert translate_gene(genome, _Gene("c", 2, 2 + len(seq), "-"), 11) == "MKXXW"
    # code 4 reads TGA as Trp: no X there
    assert translate_gene(_Genome({"c": "ATGTGATAA"}), _Gene("c", 0, 9, "+"), 4) == "MW"


def test_pooled_states_are_the_mean_over_the_genes_tokens():
    states = np.arange(40, dtype=np.float32).reshape(20, 2)  # 20 tokens of k=3, stride 3: 60 bp
    genes = [_Gene("c", 0, 30, "+"), _Gene("c", 30, 60, "-", ((30, 45, "-"), (51, 60, "-")))]
    out = pool_states(states, genes, 3, 3)
    np.testing.assert_allclose(out[0], states[0:10].mean(axis=0))
    np.testing.assert_allclose(out[1], states[[10, 11, 12, 13, 14, 17, 18, 19]].mean(axis=0))


def test_neighbour_states_follow_the_genes_orientation():
    from genolong.annotate.function import with_neighbours

    genes = [_Gene("c", 0, 10, "+"), _Gene("c", 20, 30, "-"), _Gene("c", 40, 50, "+"), _Gene("d", 0, 10, "+")]
    states = np.array([[1.0], [2.0], [3.0], [4.0]], dtype=np.float32)
    out = with_neighbours(states, genes, 1)
    np.testing.assert_array_equal(out[0], [1.0, 0.0, 2.0])  # nothing upstream, gene 2 downstream
    np.testing.assert_array_equal(out[1], [2.0, 3.0, 1.0])  # minus strand: upstream is to the right
    np.testing.assert_array_equal(out[2], [3.0, 2.0, 0.0])
    np.testing.assert_array_equal(out[3], [4.0, 0.0, 0.0])  # alone on its record
    np.testing.assert_array_equal(with_neighbours(states, genes, 0), states)
