"""train(cfg) end to end, in process: real Lightning Trainer, real token stores, tiny models."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from genolong.training.checkpoint import load_checkpoint
from genolong.data.structure import STRUCTURE_CLASSES
from genolong.errors import GenolongError
from genolong.training.module import GenoLongModule
from genolong.training.train import build_module, compose_config, train
from tests.training.conftest import tiny
from tests.training.helpers import logged, metrics


@pytest.mark.parametrize("model", ["reformer", "longformer", "transformer"])
def test_fast_dev_run(model, plasmid_store, tmp_path):
    cfg = compose_config(tiny(plasmid_store, f"model={model}", "debug=fdr"), output_dir=tmp_path)
    result = train(cfg)
    assert result["global_step"] == 1
    assert result["attention"] == {"reformer": "lsh", "longformer": "sliding", "transformer": "full"}[model]
    assert math.isfinite(result["final"]["train/loss"])
    assert math.isfinite(result["final"]["val/loss"])


def test_overfit_one_batch(plasmid_store, tmp_path):
    cfg = compose_config(
        tiny(plasmid_store, "debug=overfit", "model=transformer", "trainer.max_steps=60", "optimizer.lr=0.01",
             "model.d_model=32", "model.d_ff=64", "callbacks.early_stopping.patience=1000"),
        output_dir=tmp_path,
    )
    train(cfg)
    losses = [v for _, v in logged(tmp_path, "train/loss")]
    assert len(losses) == 60
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])


def test_go_metrics_prior_and_metrics_json(go_store, tmp_path):
    cfg = compose_config(tiny(go_store, "model=longformer", "data.window=64", "data.batches_per_epoch=3",
                              "trainer.max_steps=3", "test=true"), output_dir=tmp_path)
    result = train(cfg)
    assert result == metrics(tmp_path)
    assert result["monitor"] == "val/auprc_micro" and result["labels"] == "go"
    for key in ("val/auprc_micro", "val/auprc_macro", "val/genic_f1", "val/loss", "train/tokens_per_s"):
        assert key in result["final"], key
    assert 0.0 < result["final"]["val/auprc_micro"] <= 1.0
    assert result["best_score"] == pytest.approx(result["final"]["val/auprc_micro"])
    # the term-frequency prior scores at least each term's mean base rate and at most 1
    assert 0.0 < result["prior"]["auprc_micro"] < 1.0
    assert result["tokens_per_s"] > 0 and result["peak_mem_mb"] > 0
    assert {"test/auprc_micro", "test/auprc_macro", "test/genic_f1", "test/loss"} <= set(result["test"])
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file()
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_go_loss_masks_unknown_terms(go_store, tmp_path):
    cfg = compose_config(tiny(go_store, "data.window=512", "data.val_batch_size=8"), output_dir=tmp_path)
    from genolong.training.train import build

    datamodule = build(cfg.data)
    module = build_module(cfg, datamodule)
    batch = next(iter(datamodule.val_dataloader()))
    targets = batch["targets"]
    assert (targets == 255).any(), "the val region should hold genes of unknown function"
    assert (targets[..., 1:] == 0).any() and (targets[..., 1:] == 1).any()
    logits = torch.randn(*targets.shape)
    base = module._loss(logits, targets, batch["padding_mask"])
    # whatever the network says about unknown entries, the loss does not change
    changed = torch.where(targets == 255, torch.full_like(logits, 30.0), logits)
    assert module._loss(changed, targets, batch["padding_mask"]) == pytest.approx(base.item())
    known = targets == 0
    flipped = torch.where(known, torch.full_like(logits, 30.0), logits)
    assert module._loss(flipped, targets, batch["padding_mask"]) > base


def test_same_seed_same_first_step_loss(plasmid_store, tmp_path):
    losses = []
    for run in ("a", "b", "c"):
        seed = 7 if run != "c" else 8
        cfg = compose_config(tiny(plasmid_store, "trainer.max_steps=1", "model.dropout=0.1", f"seed={seed}"),
                             output_dir=tmp_path / run)
        train(cfg)
        losses.append(logged(tmp_path / run, "train/loss")[0][1])
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]


def test_nan_loss_stops_with_message_and_keeps_last_checkpoint(plasmid_store, tmp_path):
    cfg = compose_config(
        tiny(plasmid_store, "optimizer.lr=1e20", "trainer.gradient_clip_val=0", "trainer.max_steps=8",
             "callbacks.last_checkpoint.every_n_train_steps=1"),
        output_dir=tmp_path,
    )
    with pytest.raises(GenolongError, match=r"non-finite .* at global step \d+.*last good checkpoint"):
        train(cfg)
    loaded = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert loaded.global_step >= 1
    assert all(torch.isfinite(p).all() for p in loaded.net.parameters())


def test_checkpoints_describe_themselves(plasmid_store, tmp_path):
    cfg = compose_config(tiny(plasmid_store, "model=reformer", "task.structure_weight=1"), output_dir=tmp_path)
    train(cfg)
    best = tmp_path / "checkpoints" / "best.ckpt"
    raw = torch.load(best, weights_only=True)  # no pickled objects anywhere in it
    hparams = raw["hyper_parameters"]
    assert hparams["encoder_config"]["attention"] == "lsh"
    assert hparams["tokenizer"]["vocab_hash"] and hparams["labels"]["scheme"] == "biotype"

    loaded = load_checkpoint(best)
    assert loaded.task == "annotate" and loaded.labels.kind == "single"
    assert loaded.tokenizer.k == 6 and loaded.encoder_config.d_model == 16
    assert not loaded.net.training
    module = GenoLongModule.load_from_checkpoint(best, weights_only=True).eval()
    tokens = torch.randint(5, loaded.tokenizer.vocab_size, (2, 40))
    padding = torch.zeros(2, 40, dtype=torch.bool)
    padding[1, 30:] = True
    with torch.no_grad():
        out = loaded.net(tokens, padding)
        # a two-head net: function columns, then the structure columns
        assert loaded.structure_labels.classes == list(STRUCTURE_CLASSES)
        assert out.shape == (2, 40, len(loaded.labels.classes) + len(STRUCTURE_CLASSES))
        torch.testing.assert_close(out, module.net(tokens, padding))
    assert loaded.transl_table == 11 and loaded.window == 32
    assert hparams["structure_labels"]["scheme"] == "structure" and hparams["window"] == 32


def test_checkpoints_without_structure_head_still_load(plasmid_store, tmp_path):
    """A function-only net (task.structure_weight=0), and a checkpoint written before the structure
    head existed (no structure_labels / transl_table / window hyperparameters)."""
    cfg = compose_config(tiny(plasmid_store, "task.structure_weight=0"), output_dir=tmp_path)
    train(cfg)
    raw = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert raw["hyper_parameters"]["structure_labels"] is None
    for key in ("structure_labels", "transl_table", "window", "structure_weight", "function_weight"):
        del raw["hyper_parameters"][key]
    old = tmp_path / "old.ckpt"
    torch.save(raw, old)
    loaded = load_checkpoint(old)
    assert loaded.structure_labels is None and loaded.transl_table is None and loaded.window is None
    assert loaded.net.structure_head is None
    tokens = torch.randint(5, loaded.tokenizer.vocab_size, (1, 20))
    with torch.no_grad():
        assert loaded.net(tokens, None).shape == (1, 20, len(loaded.labels.classes))
    module = GenoLongModule.load_from_checkpoint(old, weights_only=True)
    assert module.n_structure == 0


def test_bad_checkpoints_are_user_errors(tmp_path, plasmid_store):
    with pytest.raises(GenolongError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.ckpt")
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(GenolongError, match="not a readable checkpoint"):
        load_checkpoint(text)
    other = tmp_path / "tensor.ckpt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(GenolongError, match="not a genolong checkpoint"):
        load_checkpoint(other)
    cfg = compose_config(tiny(plasmid_store, "trainer.max_steps=1"), output_dir=tmp_path / "run")
    train(cfg)
    data = (tmp_path / "run" / "checkpoints" / "last.ckpt").read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(GenolongError, match="truncated"):
        load_checkpoint(truncated)


def test_mlm_pretraining_then_annotate_fine_tuning(plasmid_store, tmp_path):
    mlm_cfg = compose_config(tiny(plasmid_store, "task=mlm"), output_dir=tmp_path / "mlm")
    mlm = train(mlm_cfg)
    assert mlm["monitor"] == "val/loss" and math.isfinite(mlm["best_score"])
    mlm_ckpt = tmp_path / "mlm" / "checkpoints" / "last.ckpt"
    assert load_checkpoint(mlm_ckpt).task == "mlm"

    ft_cfg = compose_config(tiny(plasmid_store, f"task.pretrained={mlm_ckpt}", "trainer.max_steps=2"),
                            output_dir=tmp_path / "ft")
    from genolong.training.train import build

    module = build_module(ft_cfg, build(ft_cfg.data))
    pretrained = load_checkpoint(mlm_ckpt).net.encoder.state_dict()
    for key, value in module.net.encoder.state_dict().items():
        torch.testing.assert_close(value, pretrained[key], msg=key)
    scratch = build_module(compose_config(tiny(plasmid_store, "seed=1"), output_dir=tmp_path / "x"),
                           build(ft_cfg.data))
    assert any(not torch.equal(v, pretrained[k]) for k, v in scratch.net.encoder.state_dict().items())

    result = train(ft_cfg)
    assert result["task"] == "annotate" and result["global_step"] == 2

    mismatched = compose_config(tiny(plasmid_store, f"task.pretrained={mlm_ckpt}", "model.d_model=32"),
                                output_dir=tmp_path / "bad")
    with pytest.raises(GenolongError, match="d_model"):
        build_module(mismatched, build(mismatched.data))


def test_class_weights_balanced(plasmid_store, tmp_path):
    cfg = compose_config(tiny(plasmid_store, "task.class_weights=balanced"), output_dir=tmp_path)
    from genolong.training.train import build

    datamodule = build(cfg.data)
    module = build_module(cfg, datamodule)
    freq = datamodule.class_frequencies("train")
    weights = module.class_weights.numpy()
    # rarer classes weigh more, and the weighted class mass is even
    np.testing.assert_allclose(weights * freq, np.full(len(freq), 1.0 / len(freq)), rtol=1e-5)


def test_go_validation_metrics_match_sklearn(go_store, tmp_path):
    """val/auprc_micro, val/auprc_macro (over the terms present in val) and val/genic_f1, as the
    Trainer logs them, equal scikit-learn's on the same predictions with unknown entries dropped."""
    import pytorch_lightning as pl
    from sklearn.metrics import average_precision_score, f1_score

    from genolong.training.train import build

    cfg = compose_config(tiny(go_store, "data.window=256", "data.val_batch_size=16", "task.structure_weight=1"),
                         output_dir=tmp_path)
    datamodule = build(cfg.data)
    module = build_module(cfg, datamodule).eval()
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    logged_metrics = trainer.validate(module, datamodule=datamodule, verbose=False)[0]

    probs, targets, structure, structure_targets = [], [], [], []
    with torch.no_grad():
        for batch in datamodule.val_dataloader():
            real = ~batch["padding_mask"]
            logits = module(batch["tokens"], batch["padding_mask"])
            probs.append(torch.sigmoid(logits[..., :module.n_outputs])[real].numpy())
            targets.append(batch["targets"][real].numpy())
            structure.append(logits[..., module.n_outputs:].argmax(-1)[real].numpy())
            structure_targets.append(batch["structure"][real].numpy())
    p, t = np.concatenate(probs), np.concatenate(targets)
    s, st = np.concatenate(structure), np.concatenate(structure_targets)
    present = np.union1d(s, st)
    assert logged_metrics["val/structure_macro_f1"] == pytest.approx(
        f1_score(st, s, labels=present, average="macro"), abs=1e-4)
    cds = st[(st >= 1) & (st <= 6)]
    assert cds.size and logged_metrics["val/structure_frame_acc"] == pytest.approx(
        np.mean(s[(st >= 1) & (st <= 6)] == cds), abs=1e-4)
    known = t[:, 1:] != 255
    micro = average_precision_score(t[:, 1:][known] == 1, p[:, 1:][known])
    per_term = [average_precision_score(t[known[:, j], j + 1] == 1, p[known[:, j], j + 1])
                for j in range(t.shape[1] - 1) if (t[known[:, j], j + 1] == 1).any()]
    assert len(per_term) < t.shape[1] - 1, "some kept term should be absent from val for this check"
    assert logged_metrics["val/auprc_micro"] == pytest.approx(micro, abs=1e-4)
    assert logged_metrics["val/auprc_macro"] == pytest.approx(np.mean(per_term), abs=1e-4)
    assert logged_metrics["val/genic_f1"] == pytest.approx(f1_score(t[:, 0], p[:, 0] > 0.5), abs=1e-4)


def test_no_store_given_trains_on_the_embedded_genome(tmp_path, capsys):
    """A first `genolong-train` with no arguments works: the default genome's store is prepared."""
    overrides = [o for o in tiny(Path("unused")) if not o.startswith("data.store_dir=")]
    cfg = compose_config([*overrides, f"paths.store_root={tmp_path / 'stores'}", "trainer.max_steps=1",
                          "+trainer.limit_val_batches=1"], output_dir=tmp_path / "run")
    assert cfg.data.store_dir is None
    result = train(cfg)
    assert "no data.store_dir given; training on the embedded default genome" in capsys.readouterr().err
    store = tmp_path / "stores" / "mycoides_GM12_go_k6"
    assert (store / "meta.json").is_file() and result["store_dir"] == str(store)
    # the checkpoint remembers the training window, for `genolong annotate`'s default --window
    assert load_checkpoint(result["last_checkpoint"]).hparams["window"] == 32


def test_structure_class_weights_sqrt(go_store, tmp_path):
    """`sqrt`: 1/sqrt of each structure class's train share, the same on both strands (GM12 has
    no rRNA(+) token, strand augmentation makes them), mean token weight 1; the loss uses them."""
    from genolong.training.train import build

    cfg = compose_config(tiny(go_store, "task.structure_weight=1", "task.structure_class_weights=sqrt"),
                         output_dir=tmp_path)
    datamodule = build(cfg.data)
    module = build_module(cfg, datamodule)
    names = list(datamodule.structure_labels.classes)
    freq = datamodule.structure_frequencies("train")
    weights = module.structure_class_weights.numpy()
    assert freq[names.index("rRNA(+)")] == freq[names.index("rRNA(-)")] > 0
    assert weights[names.index("tRNA(+)")] > 5 * weights[names.index("CDS0(+)")]
    np.testing.assert_allclose((weights * freq).sum(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(weights * np.sqrt(freq), weights[0] * np.sqrt(freq[0]), rtol=1e-5)
    assert module.hparams.structure_class_weights == pytest.approx(list(weights))
    bad = compose_config(tiny(go_store, "task.structure_weight=1", "task.structure_class_weights=[1,2]"),
                         output_dir=tmp_path / "bad")
    with pytest.raises(GenolongError, match="2 weights for 13 structure classes"):
        build_module(bad, datamodule)
