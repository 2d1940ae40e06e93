"""The TIS net (which start of a stop is the gene's) and its decoder hook: trained listwise on real
genes it beats the start-codon prior on held-out genes; the hook moves starts, never acceptance;
a checkpoint folder without start_caller.pt annotates as before; a bad file fails in one line."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from genolong.annotate.orfs import encode_bases, find_orfs
from genolong.annotate.start_caller import (START_CALLER_FILE, StartCaller, load_start_caller, save_start_caller,
                                            start_logits)
from genolong.annotate.start_caller_fit import _examples, record_groups
from genolong.cli import main
from genolong.errors import GenolongError
from genolong.models.start_net import StartCallerBundle, StartNet, StartNetConfig
from genolong.training.start_net import fit_start_net
from tests.annotate.helpers import STRUCTURE, soft_probs, structure_targets

SMALL = StartNetConfig(channels=16, hidden=32)


@pytest.fixture(scope="module")
def afade(data_dir):
    """Afade's records (bases) and genes from its GenBank file."""
    from genolong.data.annotation import read_annotation
    from genolong.data.genome import open_genome

    path = data_dir / "mycoides_Afade.gbff.gz"
    with open_genome(path) as genome:
        records = {s: encode_bases(genome.fetch(s)) for s in genome.ids}
    return records, read_annotation(path)


def test_net_ranks_annotated_starts_above_the_codon_prior(afade):
    """Trained on the first 60% of each record, the net puts the annotated start first on the held-out
    rest more often than the start-codon prior (ATG > GTG > TTG, then the longest ORF) does."""
    records, genes = afade
    parts = {"train": [], "val": []}
    for seqid, bases in records.items():
        cut = int(bases.size * 0.6)
        got = record_groups(bases, [g for g in genes if g.seqid == seqid], 4, 120,
                            lambda a, b: "train" if b <= cut else ("val" if a >= cut else ""), SMALL.upstream,
                            SMALL.downstream)
        for split in parts:
            parts[split].append(got[split])
    train, val = _examples(parts["train"]), _examples(parts["val"])
    prior = np.concatenate([p[4] for p in parts["val"]]).mean()
    assert len(train) > 300 and len(val) > 150
    net, summary = fit_start_net(SMALL, train, val, epochs=6, lr=5e-3, seed=0)
    logits = np.concatenate([net(torch.from_numpy(val.windows[a:b].astype(np.int64)),
                                 torch.from_numpy(val.features[a:b])).detach().numpy()
                             for a, b in zip(val.offsets[:-1], val.offsets[1:])])
    top1 = np.mean([np.argmax(logits[a:b]) == t - a for a, b, t in zip(val.offsets[:-1], val.offsets[1:], val.target)])
    assert top1 == pytest.approx(summary["val_top1"])
    assert top1 > prior + 0.02, (top1, prior)


def _record(afade, i: int):
    records, genes = afade
    seqid = list(records)[i]
    bases = records[seqid]
    seq = "".join("ACGTN"[b] for b in bases)
    mine = [g for g in genes if g.seqid == seqid]
    n_tok = (len(seq) - 3) // 3 + 1
    targets = structure_targets([(g.start, g.end, g.strand, g.biotype) for g in mine], n_tok, 3, 3)
    return seqid, (seqid, lambda a, b: seq[a:b], len(seq), soft_probs(targets, len(STRUCTURE), p=0.5))


def _random_caller(weight: float, seed: int = 0) -> StartCaller:
    torch.manual_seed(seed)
    return StartCaller(StartCallerBundle(SMALL, StartNet(SMALL).state_dict(), {}), weight=weight)


def test_hook_moves_starts_but_not_acceptance(afade):
    from genolong.annotate.orf_decode import DecodeConfig, decode_genome

    seqid, record = _record(afade, 1)
    cfg = DecodeConfig(table=4, start_model=False, coding_model=False)  # one pass: the same candidates

    def by_stop(start_score):
        calls = decode_genome([record], STRUCTURE, 3, 3, cfg, start_score=start_score)[seqid]
        return {(g.end if g.strand == "+" else g.start, g.strand): (g.start, g.end, g.score) for g in calls}

    plain, zero, moved = by_stop(None), by_stop(_random_caller(0.0)), by_stop(_random_caller(1e4))
    assert len(plain) > 50 and zero == plain
    assert moved.keys() == plain.keys()  # the same stops are accepted
    assert sum(moved[s][:2] != plain[s][:2] for s in plain) > 5  # at some of them another start


def test_bundle_round_trips_and_bad_files_fail_in_one_line(tmp_path, afade):
    bases = next(iter(afade[0].values()))[:20000]
    torch.manual_seed(1)
    net = StartNet(SMALL).eval()
    path = tmp_path / START_CALLER_FILE
    save_start_caller(path, StartCallerBundle(SMALL, net.state_dict(), {"weight": 12.5, "grid": {"0": {"f1": 0.5}}}))
    assert torch.load(path, weights_only=True)["recipe"]["weight"] == 12.5
    caller = StartCaller.beside(tmp_path / "best.ckpt")
    orfs = find_orfs(bases, 4, min_length=120)
    assert caller.weight == 12.5
    assert np.array_equal(start_logits(caller.net, bases, orfs), start_logits(net, bases, orfs))
    lp = caller.log_probs(bases, orfs)
    assert np.allclose([np.exp(lp[orfs.stop_id == s]).sum() for s in np.unique(orfs.stop_id)], 1.0)
    wrong = StartNetConfig(channels=8)
    for bad in (b"not a start caller\n",
                StartCallerBundle(wrong, StartNet(wrong).state_dict(), {}).to_dict() | {"config": SMALL.to_dict()}):
        if isinstance(bad, bytes):
            path.write_bytes(bad)
        else:
            torch.save(bad, path)
        with pytest.raises(GenolongError) as err:
            load_start_caller(path)
        assert str(err.value).startswith(f"{path}: not a readable start-caller file") and "\n" not in str(err.value)


def test_folder_without_start_caller_annotates_as_before(trained, tmp_path, data_dir, capsys):
    """No start_caller.pt beside the checkpoint: the same outputs as --no-start-caller with one there;
    a bad one stops annotate with one line before anything is written."""
    ckpt, _ = trained
    folder = tmp_path / "ckpt"
    folder.mkdir()
    shutil.copy(ckpt, folder / "best.ckpt")
    gbk = str(data_dir / "NC_005816.gb")

    def annotate(name: str, *extra: str) -> tuple[int, str]:
        rc = main(["annotate", "--checkpoint", str(folder / "best.ckpt"), "--genome", gbk, "--out",
                   str(tmp_path / name), "--no-progress", "--transl-table", "11", *extra])
        return rc, capsys.readouterr().err

    rc, err = annotate("without")
    assert rc == 0 and "start caller" not in err, err
    save_start_caller(folder / START_CALLER_FILE, _random_caller(1e4).bundle)
    rc, err = annotate("flag", "--no-start-caller")
    assert rc == 0 and "start caller" not in err
    rc, err = annotate("with")
    assert rc == 0 and "start caller: TIS net from" in err
    for ext in ("gff3", "bed", "genes.tsv"):
        assert (tmp_path / f"without.{ext}").read_bytes() == (tmp_path / f"flag.{ext}").read_bytes()
    (folder / START_CALLER_FILE).write_bytes(b"\x00" * 64)
    rc, err = annotate("bad")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "not a readable start-caller file" in err
    assert not list(tmp_path.glob("bad*"))
