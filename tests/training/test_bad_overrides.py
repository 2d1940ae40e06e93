"""genolong-train with bad overrides: exit 2, one line naming the key or file, no traceback, and
no checkpoint or metrics written (issue 21, cases 4 and 5)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from genolong.data.store import TokenStore
from genolong.training.train import compose_config, main, train
from tests.training.conftest import tiny

REPO = Path(__file__).resolve().parents[2]
OTHER_MODEL = REPO / "tests" / "data" / "checkpoint_c5387f4_longformer.ckpt"


def _files(tmp_path: Path) -> dict:
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(OTHER_MODEL.read_bytes()[:5000])
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint\n")
    not_store = tmp_path / "not_a_store"
    not_store.mkdir()
    (not_store / "keep.txt").write_text("keep\n")
    return {"truncated": truncated, "text": text, "not_store": not_store}


# override (with {store}, {truncated}, ... filled in) -> fragment of the one error line
ROWS = {
    "seed=abc": "config seed: expected an integer, got 'abc'",
    "seed=1.5": "config seed: expected an integer",
    "seed=-1": "config seed: must be >= 0",
    "optimizer.lr=nan": "config optimizer.lr: must be finite",
    "optimizer.lr=-0.1": "config optimizer.lr: must be >= 0",
    "optimizer.lr=0": "config optimizer.lr: must be > 0",
    "optimizer.lr=fast": "config optimizer.lr: expected a number",
    "optimizer.lr=inf": "config optimizer.lr: must be finite",
    "optimizer.weight_decay=-1": "config optimizer.weight_decay: must be >= 0",
    "torch_threads=-1": "config torch_threads: must be >= 1",
    "torch_threads=0": "config torch_threads: must be >= 1",
    "torch_threads=two": "config torch_threads: expected an integer",
    "data.window=0": "config data.window: must be >= 1",
    "data.window=abc": "config data.window: expected an integer",
    "data.batch_size=0": "config data.batch_size: must be >= 1",
    "data.batches_per_epoch=-5": "config data.batches_per_epoch: must be >= 1",
    "data.segments_per_sample=0": "data.segments_per_sample: must be at least 1",
    "ckpt_path={truncated}": "truncated.ckpt: not a readable checkpoint",
    "ckpt_path={text}": "notes.ckpt: not a readable checkpoint",
    "ckpt_path={other}": "checkpoint_c5387f4_longformer.ckpt: ckpt_path: checkpoint is of another model",
    "ckpt_path={missing}": "missing.ckpt: ckpt_path: no such checkpoint file",
    "data.store_dir={not_store}": "not a token store",
    "data.store_dir={truncated}": "not a token store",
    "foo=1": "Could not override 'foo'",
    "model=nonexistent": "Could not find 'model/nonexistent'",
    "seed=[1": "no viable alternative",
}
# the overrides Hydra itself refuses, before train() runs
COMPOSE_ERRORS = {"foo=1", "model=nonexistent", "seed=[1"}
FAST = ["seed=abc", "optimizer.lr=nan", "torch_threads=-1", "ckpt_path={truncated}", "ckpt_path={other}",
        "data.window=0", "foo=1"]


def _fill(override: str, store: Path, tmp_path: Path) -> str:
    files = _files(tmp_path)
    return override.format(store=store, other=OTHER_MODEL, missing=tmp_path / "missing.ckpt", **files)


def _snapshot(root: Path) -> dict:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("override", [
    pytest.param(o, marks=() if o in FAST else pytest.mark.slow) for o in ROWS
])
def test_bad_override_is_one_line_and_exit_2(override, plasmid_store, tmp_path, monkeypatch, capsys):
    filled = _fill(override, plasmid_store, tmp_path)
    before = _snapshot(tmp_path) | _snapshot(plasmid_store)
    run_dir = tmp_path / "run"
    argv = tiny(plasmid_store, "debug=fdr", filled, f"hydra.run.dir={run_dir}")
    monkeypatch.setattr(sys, "argv", ["genolong-train", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("genolong-train: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert ROWS[override] in lines[0], lines[0]
    assert _snapshot(tmp_path) | _snapshot(plasmid_store) == before | {
        p: b for p, b in _snapshot(tmp_path).items() if p.is_relative_to(run_dir)}
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "metrics.json").exists()


def test_window_longer_than_the_data_is_capped_with_one_line(plasmid_store, tmp_path, capsys):
    cfg = compose_config(tiny(plasmid_store, "debug=fdr", "data.window=1000000"), output_dir=tmp_path)
    result = train(cfg)
    err = capsys.readouterr().err
    capped = [line for line in err.splitlines() if "data.window=1000000 is longer than the data" in line]
    assert len(capped) == 1, err
    store = TokenStore(plasmid_store)
    longest = max(r.tok_end - r.tok_start for s in ("train", "val", "test") for r in store.regions(s))
    assert capped[0].endswith(f"using data.window={longest}")
    assert result["global_step"] == 1


def test_fast_dev_run_writes_no_checkpoint(plasmid_store, tmp_path):
    """Issue 21 case 11: debug=fdr's comment and metrics.json say no checkpoint is written."""
    result = train(compose_config(tiny(plasmid_store, "debug=fdr"), output_dir=tmp_path))
    assert result["last_checkpoint"] == "" and result["best_checkpoint"] == ""
    assert not (tmp_path / "checkpoints").exists()


def test_a_run_too_short_to_validate_says_there_is_no_best_checkpoint(plasmid_store, tmp_path, capsys):
    """Issue 21 case 11: max_steps below batches_per_epoch never validates, so no best.ckpt: said."""
    result = train(compose_config(tiny(plasmid_store, "trainer.max_steps=2"), output_dir=tmp_path))
    err = capsys.readouterr().err
    assert result["best_checkpoint"] == "" and not (tmp_path / "checkpoints" / "best.ckpt").exists()
    said = [line for line in err.splitlines() if "no validation ran" in line]
    assert len(said) == 1 and "trainer.max_steps=2" in said[0] and "data.batches_per_epoch=4" in said[0], err
