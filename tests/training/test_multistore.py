"""Training on several token stores at once: sampling, determinism, resume, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genolong.data.prepare import prepare
from genolong.errors import GenolongError
from genolong.training.datamodule import GenomeDataModule, span_weights
from genolong.training.train import compose_config, train
from tests.training.conftest import PLASMID, REPO, tiny

ECOLI_REGION = REPO / "tests" / "data" / "D10483.gbk"
SPLIT = "contiguous:val=0.2;test=0.1;gap=100"


@pytest.fixture(scope="module")
def two_stores(tmp_path_factory):
    """Y. pestis plasmid (9.6 kbp) and an E. coli region (111 kbp), product keyword classes."""
    root = tmp_path_factory.mktemp("multistore")
    prepare(PLASMID, root / "plasmid", labels="product", split=SPLIT, progress=False)
    prepare(ECOLI_REGION, root / "ecoli", labels="product", split=SPLIT, progress=False)
    return [str(root / "plasmid"), str(root / "ecoli")]


def test_windows_come_from_every_store_in_proportion_to_length(two_stores):
    dm = GenomeDataModule(two_stores, window=32, batch_size=4)
    spans = dm.spans("train")
    assert {s.store for s in spans} == {0, 1}
    dataset = dm.train_dataset()
    train_tokens = np.bincount([s.store for s in spans], weights=[s.length for s in spans])
    np.testing.assert_allclose(np.bincount([s.store for s in dataset.spans], weights=dataset.weights),
                               train_tokens / train_tokens.sum())
    # the windows drawn: tokens of key k are those of store k's draw; about 8% from the plasmid
    plasmid_tokens = set(np.asarray(dm.stores[0].tokens(dm.stores[0].seqids[0])).tolist())
    draws = [int(dataset.spans[int(np.random.default_rng([0, key]).choice(len(dataset.spans), p=dataset.weights))].store)
             for key in range(4000)]
    share = draws.count(0) / len(draws)
    expected = train_tokens[0] / train_tokens.sum()
    assert abs(share - expected) < 0.02, (share, expected)
    item = dataset[draws.index(0)]
    real = item["tokens"][~item["padding_mask"]].tolist()
    assert set(real) <= plasmid_tokens | set(dm.tokenizer.rc_map[list(plasmid_tokens)].tolist())
    # structure targets travel with the windows
    assert item["structure"].shape == (32,) and item["structure"].dtype == torch.int64


def test_store_weights_split_windows_per_store(two_stores):
    dm = GenomeDataModule(two_stores, window=32, store_weights=[1.0, 1.0])
    dataset = dm.train_dataset()
    per_store = np.bincount([s.store for s in dataset.spans], weights=dataset.weights)
    np.testing.assert_allclose(per_store, [0.5, 0.5])
    with pytest.raises(GenolongError, match="data.store_weights: need 2 non-negative weights"):
        span_weights(dataset.spans, [1.0], 2)


def test_multistore_batches_are_the_same_with_workers_and_after_resume(two_stores):
    batches = []
    for workers in (0, 2):
        dm = GenomeDataModule(two_stores, window=32, batch_size=4, batches_per_epoch=6, num_workers=workers,
                              rc_aug=True, seed=3)
        batches.append(list(dm.train_dataloader()))
    for a, b in zip(*batches):
        assert a.keys() == b.keys() == {"tokens", "targets", "padding_mask", "structure"}
        for key in a:
            assert torch.equal(a[key], b[key])
        # unknown function (hypothetical proteins) is the ignore index, never a wrapped-round uint8
        values = set(a["targets"].unique().tolist())
        assert values <= {-100} | set(range(dm.n_outputs))
    assert any((b["targets"] == -100).any() for b in batches[0])
    # a loader restarted at batch 4 (a resumed run) yields batches 4 and 5 of the uninterrupted one
    dm = GenomeDataModule(two_stores, window=32, batch_size=4, batches_per_epoch=6, rc_aug=True, seed=3)

    class Trainer:  # what the sampler reads of the trainer
        global_rank, world_size, accumulate_grad_batches, global_step = 0, 1, 1, 4

    dm.trainer = Trainer()
    resumed = list(dm.train_dataloader())
    assert len(resumed) == 2
    for a, b in zip(resumed, batches[0][4:]):
        for key in a:
            assert torch.equal(a[key], b[key])
    # validation tiles cover both stores' held-out regions
    tiles = dm.eval_dataset("val").tiles
    assert {t[3] for t in tiles} == {0, 1}


def test_stores_must_share_tokenizer_and_vocabularies(two_stores, tmp_path):
    prepare(PLASMID, tmp_path / "k3", labels="product", k=3, split=SPLIT, progress=False)
    with pytest.raises(GenolongError, match=r"k3: the stores of one run share .*: its tokenizer \(k=3, stride=3\) does not match the .*plasmid one"):
        GenomeDataModule([two_stores[0], str(tmp_path / "k3")])
    prepare(PLASMID, tmp_path / "biotype", labels="biotype", split=SPLIT, progress=False)
    with pytest.raises(GenolongError, match=r"biotype: the stores of one run share .*\(prepare it with --vocab .*labels.json\): its labels \(scheme 'biotype'"):
        GenomeDataModule([two_stores[0], str(tmp_path / "biotype")])


def test_training_on_two_stores_resumes_exactly(two_stores, tmp_path):
    """Four steps in one go, and two steps then two more from the last checkpoint, end in the same
    weights."""
    store_list = "[" + ",".join(two_stores) + "]"
    whole = compose_config(tiny(two_stores[0], f"data.store_dir={store_list}", "data.batches_per_epoch=2"),
                           output_dir=tmp_path / "whole")
    result = train(whole)
    assert result["store_dir"] == two_stores and result["global_step"] == 4
    first = compose_config(tiny(two_stores[0], f"data.store_dir={store_list}", "data.batches_per_epoch=2",
                                "trainer.max_steps=2", "scheduler.total_steps=4"), output_dir=tmp_path / "split")
    train(first)
    second = compose_config(tiny(two_stores[0], f"data.store_dir={store_list}", "data.batches_per_epoch=2",
                                 "ckpt_path=last", "scheduler.total_steps=4"), output_dir=tmp_path / "split")
    assert train(second)["global_step"] == 4
    a = torch.load(tmp_path / "whole" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "split" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)


def test_prepare_genomes_makes_missing_stores_sharing_the_first_vocabulary(tmp_path):
    from genolong.training.train import resolve_store

    stores = [str(tmp_path / "a"), str(tmp_path / "b")]
    overrides = [f"data.store_dir=[{stores[0]},{stores[1]}]",
                 f"prepare_genomes=[{{genome_path:'{PLASMID}',labels:go}},{{genome_path:'{ECOLI_REGION}'}}]",
                 f"+prepare.split='{SPLIT}'", "+prepare.progress=false"]
    cfg = compose_config(overrides, output_dir=tmp_path / "run")
    with pytest.raises(GenolongError, match="labels none of the"):
        # the plasmid has no GO term, and it comes first: nothing to share
        resolve_store(cfg)
    cfg = compose_config([f"data.store_dir=[{stores[1]},{stores[0]}]",
                          f"prepare_genomes=[{{genome_path:'{ECOLI_REGION}'}},{{genome_path:'{PLASMID}'}}]",
                          f"+prepare.split='{SPLIT}'", "+prepare.progress=false", "+prepare.labels=biotype"],
                         output_dir=tmp_path / "run")
    resolve_store(cfg)
    dm = GenomeDataModule(cfg.data.store_dir)
    assert [s.labels.classes for s in dm.stores] == [dm.stores[0].labels.classes] * 2
    assert dm.transl_tables == [11, 11]
    short = compose_config([f"data.store_dir=[{stores[0]},{tmp_path / 'c'}]",
                            f"prepare_genomes=[{{genome_path:'{PLASMID}'}}]"], output_dir=tmp_path / "run")
    with pytest.raises(GenolongError, match="prepare_genomes: 1 entries for 2 stores"):
        resolve_store(short)
