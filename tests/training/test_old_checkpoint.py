"""A checkpoint written by genolong before the package moved into layers (main at c5387f4) still
loads, builds the same network and annotates.

`tests/data/checkpoint_c5387f4_longformer.ckpt` was trained for two steps by that commit's
`genolong.train.train` (a 1-layer longformer, k=6 biotype labels on NC_005816, rc_average on);
optimizer state was stripped to keep it small. Its encoder config still says `window`, the old
name of `attention_window`.
"""

from __future__ import annotations

import torch

from genolong.training.checkpoint import load_checkpoint, net_state_dict, read_checkpoint


def test_checkpoint_from_before_the_move_loads_and_runs(data_dir):
    path = data_dir / "checkpoint_c5387f4_longformer.ckpt"
    raw = read_checkpoint(path)
    assert "window" in raw["hyper_parameters"]["encoder_config"]  # the old field name
    loaded = load_checkpoint(path)
    assert loaded.encoder_config.attention_window == raw["hyper_parameters"]["encoder_config"]["window"] == 4
    assert loaded.labels.classes == ["intergenic", "protein_coding"]
    weights = net_state_dict(raw)
    for key, value in loaded.net.state_dict().items():
        torch.testing.assert_close(value, weights[key], rtol=0, atol=0)
    tokens = torch.randint(5, loaded.tokenizer.vocab_size, (2, 30))
    with torch.no_grad():
        logits = loaded.net(tokens)
    assert logits.shape == (2, 30, 2) and torch.isfinite(logits).all()


def test_old_checkpoint_annotates(data_dir, tmp_path):
    from genolong.cli import main

    out = tmp_path / "pred"
    assert main(["annotate", "--checkpoint", str(data_dir / "checkpoint_c5387f4_longformer.ckpt"),
                 "--genome", str(data_dir / "NC_005816.gb"), "--out", str(out), "--no-progress"]) == 0
    assert (tmp_path / "pred.gff3").read_text().startswith("##gff-version 3")
