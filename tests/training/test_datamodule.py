"""GenomeDataModule on a real store: windows, padding, RC augmentation, step-seeded sampling."""

from __future__ import annotations

import numpy as np
import torch

from genolong.data.labels import IGNORE_INDEX
from genolong.training.datamodule import GenomeDataModule, StepSampler
from genolong.data.store import TokenStore


def test_val_tiles_cover_the_val_region_once_with_padding(plasmid_store):
    dm = GenomeDataModule(plasmid_store, window=48, batch_size=4)
    store = TokenStore(plasmid_store)
    (region,) = store.regions("val")
    batches = list(dm.val_dataloader())
    tokens = torch.cat([b["tokens"] for b in batches])  # (n_windows, L)
    padding = torch.cat([b["padding_mask"] for b in batches])
    targets = torch.cat([b["targets"] for b in batches])
    n = region.tok_end - region.tok_start
    assert tokens.shape == (-(-n // 48), 48)
    assert int((~padding).sum()) == n
    expected = np.asarray(store.tokens(region.seqid)[region.tok_start:region.tok_end])
    np.testing.assert_array_equal(tokens[~padding].numpy(), expected)
    # padding is only ever at the end of the last window, and carries [PAD] and no target
    assert not padding[:-1].any() and padding[-1, -1]
    assert (tokens[padding] == 0).all() and (targets[padding] == IGNORE_INDEX).all()


def test_training_windows_stay_inside_train_regions(plasmid_store):
    dm = GenomeDataModule(plasmid_store, window=32, batch_size=4, rc_aug=False)
    store = TokenStore(plasmid_store)
    (train,) = store.regions("train")
    chromosome = np.asarray(store.tokens(train.seqid))
    allowed = {tuple(chromosome[s:s + 32]) for s in range(train.tok_start, train.tok_end - 31)}
    dataset = dm.train_dataset()
    for key in range(50):
        item = dataset[key]
        assert not item["padding_mask"].any()
        assert tuple(item["tokens"].numpy()) in allowed


def test_reverse_complement_augmentation(plasmid_store):
    store = TokenStore(plasmid_store)
    plain = GenomeDataModule(plasmid_store, window=32, rc_aug=False).train_dataset()
    rc = GenomeDataModule(plasmid_store, window=32, rc_aug=True).train_dataset()
    rc_map = torch.from_numpy(store.tokenizer.rc_map.astype(np.int64))
    flipped = 0
    for key in range(40):
        a, b = plain[key], rc[key]  # same key: same window, the RC dataset may flip its strand
        if torch.equal(a["tokens"], b["tokens"]):
            continue
        flipped += 1
        assert torch.equal(b["tokens"], rc_map[a["tokens"].flip(0)])
        assert torch.equal(b["targets"], a["targets"].flip(0))  # biotype classes carry no strand
    assert 5 < flipped < 35


def test_ddp_shards_are_the_single_process_batch():
    single = list(StepSampler(batch_size=6, batches_per_epoch=3))
    ranks = [list(StepSampler(batch_size=3, batches_per_epoch=3, rank=r, world_size=2)) for r in range(2)]
    for b in range(3):
        assert single[b * 6:(b + 1) * 6] == ranks[0][b * 3:(b + 1) * 3] + ranks[1][b * 3:(b + 1) * 3]


def test_sampler_resumes_mid_epoch_from_the_step():
    full = list(StepSampler(batch_size=2, batches_per_epoch=5))
    resumed = list(StepSampler(batch_size=2, batches_per_epoch=5, start_batch=lambda: 3))
    assert resumed == full[6:]
    next_epoch = list(StepSampler(batch_size=2, batches_per_epoch=5, start_batch=lambda: 5))
    assert len(next_epoch) == 10 and next_epoch[0] == 10


def test_workers_give_the_same_batches(plasmid_store):
    batches = []
    for workers in (0, 2):
        dm = GenomeDataModule(plasmid_store, window=32, batch_size=4, batches_per_epoch=3, num_workers=workers,
                              rc_aug=True)
        batches.append(list(dm.train_dataloader()))
    for a, b in zip(*batches):
        for key in a:
            assert torch.equal(a[key], b[key])
