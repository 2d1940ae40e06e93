"""trainer=ddp with reversible layers: 2 CPU processes on gloo agree with one process on the same
global batch."""

from __future__ import annotations

import subprocess

import pytest
import torch

from genolong.training.train import compose_config, train
from tests.training.conftest import tiny
from tests.training.helpers import genolong_train


@pytest.mark.parametrize("extra", [(), ("model.memory=32", "data.segments_per_sample=2")],
                         ids=["windows", "segments_with_memory"])
def test_ddp_gloo_matches_single_process(plasmid_store, tmp_path, extra):
    # plain SGD without clipping or schedule: the weights after each step are the initial weights
    # minus lr times the gradient, so equal weights mean equal (all-reduced) gradients
    common = tiny(
        plasmid_store,
        *extra,
        "model=longformer",
        "model.reversible=true",
        "model.dropout=0.0",
        "trainer.max_steps=3",
        "data.batches_per_epoch=3",
        "data.rc_aug=true",
        "scheduler=null",
        "trainer.gradient_clip_val=0",
        "optimizer._target_=torch.optim.SGD",
        "optimizer.weight_decay=0",
        "optimizer.lr=0.5",
    )
    ddp_dir = tmp_path / "ddp"
    proc = subprocess.run(
        [genolong_train(), *common, "trainer=ddp", "trainer.devices=2", "data.batch_size=2",
         f"hydra.run.dir={ddp_dir}"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "GLOBAL_RANK: 1" in proc.stdout + proc.stderr or "world_size=2" in (proc.stdout + proc.stderr).replace(" ", "")

    single = train(compose_config([*common, "data.batch_size=4"], output_dir=tmp_path / "single"))
    assert single["global_step"] == 3

    import pytorch_lightning as pl

    from genolong.training.train import build, build_module

    cfg = compose_config([*common, "data.batch_size=4"], output_dir=tmp_path / "init")
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    initial = build_module(cfg, build(cfg.data)).state_dict()

    a = torch.load(tmp_path / "single" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(ddp_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    moved = max((a[k] - initial[k]).abs().max().item() for k in a)
    assert moved > 1e-2, "training must have changed the weights for the comparison to mean anything"
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6, msg=key)
