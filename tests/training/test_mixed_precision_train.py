"""`trainer.precision=bf16-mixed` (what `trainer=gpu` sets) with the real Trainer, on CPU."""

from __future__ import annotations

import math

import pytest
import torch
from pytorch_lightning import Callback

from genolong.training.train import compose_config, train
from tests.training.conftest import tiny

SEEN: list[torch.dtype] = []


class AttentionDtypeProbe(Callback):
    """Records the dtype each attention's output projection produced during training (LSH runs
    its input projection as two `F.linear` calls on slices of `in_proj.weight`, so no hook there)."""

    def on_train_start(self, trainer, pl_module):
        SEEN.clear()
        for name, module in pl_module.named_modules():
            if name.endswith("attn.out_proj"):
                module.register_forward_hook(lambda m, args, out: SEEN.append(out.dtype))


@pytest.mark.parametrize("model", ["reformer", "longformer", "transformer"])
def test_bf16_mixed_training_on_cpu(model, plasmid_store, tmp_path):
    probe = f"+callbacks.probe._target_={__name__}.AttentionDtypeProbe"
    cfg = compose_config(tiny(plasmid_store, f"model={model}", "trainer.precision=bf16-mixed",
                              "model.reversible=true", "model.global_tokens=[0]",
                              probe),
                         output_dir=tmp_path)
    result = train(cfg)
    assert result["global_step"] == 4
    assert math.isfinite(result["final"]["train/loss"])
    assert math.isfinite(result["final"]["val/loss"])
    # autocast was on inside the attention layers, forward and reversible recomputation
    assert SEEN and set(SEEN) == {torch.bfloat16}
