"""The ORF net (gene vs shadow ORF) and its decoder hook: translation of the candidates, training
on real genes against their shadows, the saved bundle, and the hook at weight 0."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genolong.annotate.gene_caller import GeneCaller, load_gene_caller, orf_logits, orf_rows, save_gene_caller
from genolong.annotate.gene_caller_fit import record_examples, _examples
from genolong.annotate.orfs import encode_bases, find_orfs
from genolong.models.gene_function import AMINO_ACIDS
from genolong.models.orf_net import GeneCallerBundle, OrfEnsemble, OrfNet, OrfNetConfig
from genolong.training.orf_net import fit_orf_net, weighted_loss, _collate, _StopDataset
from tests.annotate.helpers import STRUCTURE, soft_probs, structure_targets

TINY = OrfNetConfig(embed=8, channels=8, kernel=3, dilations=(1, 2))


def _letters(ids: np.ndarray) -> str:
    return "".join("X" if i < 2 else AMINO_ACIDS[i - 2] for i in ids)


def test_rows_are_each_stops_longest_protein_on_both_strands():
    from Bio.Seq import Seq

    rng = np.random.default_rng(0)
    body = "".join(rng.choice(["GCT", "AAA", "GAT", "TGG", "CTG", "GTG"], 60))  # no stop codon in frame
    gene = "ATG" + body + "TAA"
    seq = "CC" + gene + "GGAT" + str(Seq(gene).reverse_complement()) + "CA"
    orfs = find_orfs(seq, 11, min_length=120)
    rows = orf_rows(encode_bases(seq), orfs, 11)
    want = str(Seq(gene).translate(table=11))[:-1]
    for i in range(len(orfs)):
        protein = _letters(rows.protein(rows.row[i]))
        start = int(rows.start[i])
        expect = str(Seq(seq[orfs.start[i]:orfs.end[i]] if orfs.strand[i] > 0 else
                         Seq(seq[orfs.start[i]:orfs.end[i]]).reverse_complement()).translate(table=11))[:-1]
        assert protein[start:] == expect  # a candidate reads its row from its own start to the stop
    assert rows.lengths.size == 2  # one row per stop codon, the gene on each strand
    assert all(_letters(rows.protein(r)) == want for r in range(2))


@pytest.fixture(scope="module")
def toy(data_dir):
    """Real Afade genes of its first contig against their shadows: the first 60% train, the rest val."""
    from genolong.data.annotation import read_annotation
    from genolong.data.genome import open_genome

    path = data_dir / "mycoides_Afade.gbff.gz"
    with open_genome(path) as genome:
        seqid = genome.ids[0]
        bases = encode_bases(genome.fetch(seqid))
    genes = [g for g in read_annotation(path) if g.seqid == seqid]
    cut = int(bases.size * 0.6)
    got = record_examples(bases, genes, 4, 120, lambda a, b: "train" if b <= cut else ("val" if a >= cut else ""))
    return bases, _examples([got["train"]]), _examples([got["val"]])


def _loss(net, ex) -> float:
    ids, pad, rows, starts, labels, weights = _collate([_StopDataset(ex)[r] for r in range(len(ex))])
    with torch.inference_mode():
        return float(weighted_loss(net.eval()(ids, pad), rows, starts, labels, weights))


def test_loss_falls_on_real_genes_against_their_shadows(toy):
    _, train, val = toy
    assert (train.label > 0).sum() > 50 and (train.label == 0).sum() > 100 and (val.label > 0).sum() > 20
    torch.manual_seed(0)
    before = _loss(OrfNet(TINY), train)
    # validated on its own train stops, so the epoch kept is the one that fits them best
    trained, summary = fit_orf_net(TINY, train, train, epochs=4, budget=2048, lr=3e-2, seed=0)
    assert 1 <= summary["best_epoch"] <= 4 and len(summary["history"]) == 4
    assert _loss(trained, train) < before - 0.1


def test_bundle_round_trips_weights_only(tmp_path, toy):
    bases = toy[0][:20000]
    torch.manual_seed(1)
    net = OrfNet(TINY).eval()
    bundle = GeneCallerBundle(TINY, net.state_dict(), {"weight": 12.5, "bias": -1.0, "grid": {"0/0": {"f1": 0.5}}})
    path = tmp_path / "gene_caller.pt"
    save_gene_caller(path, bundle)
    raw = torch.load(path, weights_only=True)
    assert raw["recipe"]["weight"] == 12.5 and raw["config"]["dilations"] == [1, 2]
    back = load_gene_caller(path)
    orfs = find_orfs(bases, 4, min_length=120)
    rows = orf_rows(bases, orfs, 4)
    assert np.array_equal(orf_logits(back.build(), rows), orf_logits(net, rows))
    caller = GeneCaller(back)
    assert (caller.weight, caller.bias) == (12.5, -1.0)
    assert np.allclose(caller(bases, orfs, 4), 12.5 * (orf_logits(net, rows) + 1.0))


def test_an_ensemble_scores_the_mean_of_its_members_and_round_trips(tmp_path, toy):
    bases = toy[0][:20000]
    orfs = find_orfs(bases, 4, min_length=120)
    rows = orf_rows(bases, orfs, 4)
    torch.manual_seed(4)
    nets = [OrfNet(TINY).eval() for _ in range(3)]
    each = np.stack([orf_logits(net, rows) for net in nets])  # (members, n_orfs)
    assert each.std(axis=0).mean() > 1e-3  # members that differ, or the mean proves nothing
    config = OrfNetConfig(**{**TINY.to_dict(), "members": 3})
    ensemble = OrfEnsemble(config).eval()
    for member, net in zip(ensemble.members, nets):
        member.load_state_dict(net.state_dict())
    save_gene_caller(tmp_path / "gene_caller.pt", GeneCallerBundle(config, ensemble.state_dict(), {"weight": 2.0}))
    back = load_gene_caller(tmp_path / "gene_caller.pt")
    assert back.config.members == 3 and len(back.build().members) == 3
    assert np.allclose(orf_logits(back.build(), rows), each.mean(axis=0), atol=1e-5)
    # a bundle holding one lone net's weights (written before ensembles) is a one-member ensemble
    old = GeneCallerBundle(TINY, nets[1].state_dict(), {})
    assert np.array_equal(orf_logits(old.build(), rows), each[1])


def test_logits_do_not_depend_on_the_batch(toy):
    """Batching by length pads rows; a row's logits must not change with its batch-mates."""
    bases = toy[0][:30000]
    torch.manual_seed(2)
    net = OrfNet(TINY).eval()
    orfs = find_orfs(bases, 4, min_length=120)
    rows = orf_rows(bases, orfs, 4)
    together = orf_logits(net, rows)
    one_by_one = np.zeros_like(together)
    by_row = {}
    for i, r in enumerate(rows.row.tolist()):
        by_row.setdefault(r, []).append(i)
    with torch.inference_mode():
        for r, cand in by_row.items():
            p = torch.from_numpy(rows.protein(r).astype(np.int64))[None]
            one_by_one[cand] = net(p, p == 0)[0, rows.start[cand]].numpy()
    assert np.allclose(one_by_one, together, atol=1e-4)


def test_weight_zero_hook_gives_the_same_calls(data_dir):
    from genolong.annotate.orf_decode import DecodeConfig, decode_genome
    from genolong.data.annotation import read_annotation
    from genolong.data.genome import open_genome

    path = data_dir / "mycoides_Afade.gbff.gz"
    with open_genome(path) as genome:
        seqid = genome.ids[1]
        seq = genome.fetch(seqid)
    genes = [g for g in read_annotation(path) if g.seqid == seqid]
    n_tok = (len(seq) - 3) // 3 + 1
    targets = structure_targets([(g.start, g.end, g.strand, g.biotype) for g in genes], n_tok, 3, 3)
    probs = soft_probs(targets, len(STRUCTURE), p=0.5)
    record = (seqid, lambda a, b: seq[a:b], len(seq), probs)
    cfg = DecodeConfig(table=4, start_min_genes=20)
    torch.manual_seed(3)
    caller = GeneCaller(GeneCallerBundle(TINY, OrfNet(TINY).state_dict(), {}), weight=0.0)

    def calls(orf_score):
        return [(g.start, g.end, g.strand, g.score) for g in decode_genome([record], STRUCTURE, 3, 3, cfg,
                                                                           orf_score=orf_score)[seqid]]

    plain = calls(None)
    assert len(plain) > 20
    assert calls(caller) == plain
    assert calls(caller.with_recipe(1000.0, 0.0)) != plain  # the hook reaches the calls


def test_hook_decides_acceptance_never_starts(data_dir):
    """The hook's score decides which genes are called, never where they start: also for a bundle
    written when fit-genes still offered the start choice (its recipe says `starts: true`)."""
    from genolong.annotate.orf_decode import DecodeConfig, decode_genome
    from genolong.data.annotation import read_annotation
    from genolong.data.genome import open_genome

    path = data_dir / "mycoides_Afade.gbff.gz"
    with open_genome(path) as genome:
        seqid = genome.ids[1]
        seq = genome.fetch(seqid)
    genes = [g for g in read_annotation(path) if g.seqid == seqid]
    n_tok = (len(seq) - 3) // 3 + 1
    targets = structure_targets([(g.start, g.end, g.strand, g.biotype) for g in genes], n_tok, 3, 3)
    record = (seqid, lambda a, b: seq[a:b], len(seq), soft_probs(targets, len(STRUCTURE), p=0.5))
    cfg = DecodeConfig(table=4, start_model=False, coding_model=False)  # one pass: the same candidates
    torch.manual_seed(4)
    old = GeneCallerBundle(TINY, OrfNet(TINY).state_dict(), {"weight": 5.0, "bias": -100.0, "starts": True})
    caller = GeneCaller(old)
    assert (caller.weight, caller.bias) == (5.0, -100.0)

    def ends(orf_score):
        calls = decode_genome([record], STRUCTURE, 3, 3, cfg, orf_score=orf_score)[seqid]
        return {(g.end if g.strand == "+" else g.start, g.strand): (g.start, g.end) for g in calls}

    plain, accepted = ends(None), ends(caller)
    assert len(accepted) > len(plain)  # a large positive score accepts more stops
    assert all(accepted[stop] == span for stop, span in plain.items() if stop in accepted)


def test_a_stop_is_accepted_when_any_of_its_starts_convinces_the_net(data_dir):
    """`accept_best_start`: the ORF net fires at a gene's own start only, so a stop whose placed
    start is another one is still accepted when the best of its starts scores positive; where the
    start is placed does not change."""
    import dataclasses

    from genolong.annotate.orf_decode import DecodeConfig, decode_genome, no_evidence
    from genolong.data.annotation import read_annotation
    from genolong.data.genome import open_genome

    path = data_dir / "mycoides_Afade.gbff.gz"
    with open_genome(path) as genome:
        seqid = genome.ids[1]
        seq = genome.fetch(seqid)
    own = {(g.start, g.end, 1 if g.strand == "+" else -1) for g in read_annotation(path)
           if g.seqid == seqid and g.biotype == "protein_coding"}

    def net(bases, orfs, table):  # +100 at an annotated gene's own start, -100 at every other candidate
        return np.array([100.0 if (int(a), int(b), int(s)) in own else -100.0
                         for a, b, s in zip(orfs.start, orfs.end, orfs.strand)])

    # no evidence, no self-trained models: each stop's start is the start-codon prior's (the longest ATG)
    record = (seqid, lambda a, b: seq[a:b], len(seq), no_evidence((len(seq) - 3) // 3 + 1, STRUCTURE))
    cfg = DecodeConfig(table=4, start_model=False, coding_model=False)

    def calls(best_start):
        genes = decode_genome([record], STRUCTURE, 3, 3, dataclasses.replace(cfg, accept_best_start=best_start),
                              orf_score=net)[seqid]
        return {(g.end if g.strand == "+" else g.start, g.strand): (g.start, g.end) for g in genes}

    placed, best = calls(False), calls(True)
    stops = {(b if s > 0 else a, "+" if s > 0 else "-") for a, b, s in own}
    assert set(placed) <= stops and set(best) <= stops  # the net's -100 rejects every other stop
    assert len(best) >= len(placed) + 10  # genes whose longest ATG is not their own start come back
    assert all(best[stop] == span for stop, span in placed.items())  # the same starts placed
    assert sum(best[stop] != (a, b) for a, b, s in own
               if (stop := (b if s > 0 else a, "+" if s > 0 else "-")) in best) >= 10  # placed elsewhere


def test_extra_genomes_train_only_on_records_no_store_holds(tmp_path):
    """`fit-genes --genomes`: an extra annotated genome's stops all go to train (its genetic code
    from its own /transl_table); a record one of the stores holds is left out, so no store's val
    region leaks into training."""
    from pathlib import Path

    from genolong.annotate.gene_caller_fit import store_examples
    from genolong.data.prepare import prepare
    from genolong.data.store import TokenStore

    data = Path(__file__).resolve().parents[1] / "data"
    plasmid, ecoli = data / "NC_005816.gb", data / "D10483.gbk"
    prepare(plasmid, tmp_path / "plasmid", labels="biotype", split="contiguous:val=0.3;test=0.1;gap=100",
            progress=False)
    store = TokenStore(tmp_path / "plasmid")
    alone_train, alone_val, _ = store_examples([store], 90)
    train, val, counts = store_examples([store], 90, genomes=[(plasmid, plasmid), (ecoli, ecoli)])
    extra_train, extra_val, _ = store_examples([], 90, genomes=[(ecoli, ecoli)])
    assert len(extra_val) == 0 and (extra_train.label > 0).sum() > 50  # the E. coli fragment's genes
    assert len(train) == len(alone_train) + len(extra_train)  # the plasmid again: left out
    assert np.array_equal(val.ids, alone_val.ids) and len(val) > 0
    assert counts["train_gene"] == int((alone_train.label > 0).sum() + (extra_train.label > 0).sum())


def test_fit_genes_refuses_an_empty_ensemble(tmp_path, capsys):
    from genolong.cli import main

    assert main(["fit-genes", "--checkpoint", str(tmp_path / "none.ckpt"), "--store", str(tmp_path),
                 "--members", "0", "--threads", "1"]) == 2
    assert capsys.readouterr().err.strip() == "genolong fit-genes: error: --members 0: must be at least 1"
    assert not (tmp_path / "gene_caller.pt").exists()
