"""A tiny model trained for a few steps on the default genome with the real training code."""

from __future__ import annotations

import pytest

from genolong.cli import main


@pytest.fixture(scope="session")
def trained(tmp_path_factory, default_genome):
    """(checkpoint path, token store) of a biotype model with a structure head, trained for a few steps."""
    from genolong.training.train import compose_config, train

    root = tmp_path_factory.mktemp("trained")
    store = root / "store"
    assert main(["prepare", "--genome", str(default_genome), "--labels", "biotype", "--out", str(store)]) == 0
    cfg = compose_config(
        [f"data.store_dir={store}", "model=transformer", "model.d_model=16", "model.n_heads=2",
         "model.n_layers=1", "model.d_ff=32", "model.dropout=0.0", "data.window=128", "data.batch_size=4",
         "data.batches_per_epoch=4", "trainer.max_steps=8", "+trainer.limit_val_batches=2",
         "trainer.enable_progress_bar=false", "optimizer.lr=3e-3", "task.structure_weight=1.0"],
        output_dir=root / "run",
    )
    train(cfg)
    ckpt = root / "run" / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    return ckpt, store
