"""Training with a segment memory: K consecutive segments per sample, one loss over all of them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genolong.data.store import TokenStore
from genolong.errors import GenolongError
from genolong.training.checkpoint import load_checkpoint
from genolong.training.datamodule import IGNORE_INDEX, GenomeDataModule, RandomSegments
from genolong.training.train import build_module, compose_config, train
from tests.training.conftest import tiny

K, WINDOW = 3, 16


def test_a_sample_is_k_consecutive_segments_of_one_record(plasmid_store):
    store = TokenStore(plasmid_store)
    (region,) = store.regions("train")
    chromosome = np.asarray(store.tokens(region.seqid))
    long = GenomeDataModule(plasmid_store, window=K * WINDOW, rc_aug=True).train_dataset()
    segmented = GenomeDataModule(plasmid_store, window=WINDOW, rc_aug=True, segments_per_sample=K).train_dataset()
    assert isinstance(segmented, RandomSegments)
    forward = {tuple(chromosome[s:s + K * WINDOW]) for s in range(region.tok_start, region.tok_end - K * WINDOW + 1)}
    n_forward = 0
    for key in range(30):
        item, whole = segmented[key], long[key]
        assert item["tokens"].shape == (K, WINDOW) and item["padding_mask"].shape == (K, WINDOW)
        # the segments, read in order, are one window of K·window tokens (either strand)
        for name in ("tokens", "targets", "padding_mask"):
            torch.testing.assert_close(item[name].reshape(whole[name].shape), whole[name])
        n_forward += tuple(item["tokens"].reshape(-1).numpy()) in forward
    assert 0 < n_forward < 30  # both strands occur, and forward samples are real stretches


def _module(plasmid_store, memory=WINDOW, structure_weight=0):
    # the function loss alone by default: these tests mask function targets segment by segment
    cfg = compose_config(tiny(plasmid_store, "model=transformer", f"model.memory={memory}", "model.dropout=0",
                              f"data.window={WINDOW}", f"data.segments_per_sample={K}",
                              f"task.structure_weight={structure_weight}"))
    datamodule = GenomeDataModule(plasmid_store, window=WINDOW, batch_size=4, segments_per_sample=K)
    module = build_module(cfg, datamodule)
    batch = torch.utils.data.default_collate([datamodule.train_dataset()[key] for key in range(4)])
    return module.double(), batch


def _only(batch: dict, segment: int) -> dict:
    """The batch with targets kept in one segment only."""
    targets = batch["targets"].clone()
    keep = torch.zeros(targets.shape[1], dtype=torch.bool)
    keep[segment] = True
    targets[:, ~keep] = IGNORE_INDEX
    return {**batch, "targets": targets}


def test_the_loss_covers_every_segment_with_memory(plasmid_store):
    module, batch = _module(plasmid_store)
    with torch.no_grad():
        total = module._segments_step(batch)
        parts = [module._segments_step(_only(batch, s)) for s in range(K)]
        first = {name: value[:, 0] for name, value in batch.items()}
        plain_first = module._shared_step(first)[0]
        last = {name: value[:, -1] for name, value in batch.items()}
        plain_last = module._shared_step(last)[0]
    counts = [int(((batch["targets"][:, s] != IGNORE_INDEX) & ~batch["padding_mask"][:, s]).sum()) for s in range(K)]
    assert all(counts)
    # one token-weighted loss over the K segments
    expected = sum(c * p for c, p in zip(counts, parts)) / sum(counts)
    # (the loss is taken in float32)
    torch.testing.assert_close(total, expected, rtol=1e-6, atol=1e-7)
    # segment 1 has no memory: it is the ordinary step on that window; later ones read a memory
    torch.testing.assert_close(parts[0], plain_first, rtol=1e-6, atol=1e-7)
    assert not torch.isclose(parts[-1], plain_last)


def test_segments_train_the_structure_head_too(plasmid_store):
    """With a structure head, every segment's structure targets add their cross-entropy."""
    module, batch = _module(plasmid_store, structure_weight=1.0)
    function_only = {**batch, "structure": torch.full_like(batch["structure"], IGNORE_INDEX)}
    with torch.no_grad():
        joint = module._segments_step(batch)
        function = module._segments_step(function_only)
    assert torch.isfinite(joint) and joint > function


def test_segments_need_a_memory(plasmid_store):
    module, batch = _module(plasmid_store, memory=0)
    with pytest.raises(GenolongError, match="model.memory"):
        module._segments_step(batch)


@pytest.mark.parametrize("model,task", [("transformer", "annotate"), ("longformer", "annotate"),
                                        ("longformer", "mlm")])
def test_train_with_segments_writes_a_memory_checkpoint(model, task, plasmid_store, tmp_path):
    cfg = compose_config(tiny(plasmid_store, f"model={model}", f"task={task}", f"model.memory={WINDOW}",
                              f"data.window={WINDOW}", f"data.segments_per_sample={K}", "trainer.max_steps=3"),
                         output_dir=tmp_path)
    result = train(cfg)
    assert result["global_step"] == 3 and math.isfinite(result["final"]["train/loss"])
    loaded = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert loaded.encoder_config.memory == WINDOW


def test_resume_with_segments_matches_an_uninterrupted_run(plasmid_store, tmp_path):
    overrides = tiny(plasmid_store, "model=longformer", f"model.memory={WINDOW}", f"data.window={WINDOW}",
                     f"data.segments_per_sample={K}", "model.dropout=0.1", "data.rc_aug=true",
                     "scheduler.total_steps=4", "data.batches_per_epoch=3")
    train(compose_config([*overrides, "trainer.max_steps=4"], output_dir=tmp_path / "straight"))
    train(compose_config([*overrides, "trainer.max_steps=2"], output_dir=tmp_path / "resumed"))
    resumed = train(compose_config([*overrides, "trainer.max_steps=4", "ckpt_path=last"],
                                   output_dir=tmp_path / "resumed"))
    assert resumed["global_step"] == 4
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    for key, value in a.items():
        torch.testing.assert_close(b[key], value, rtol=0, atol=1e-6, msg=key)
