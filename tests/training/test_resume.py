"""Training killed with SIGKILL resumes from last.ckpt to the same state as an uninterrupted run."""

from __future__ import annotations

import signal
import subprocess
import time

import torch

from genolong.training.checkpoint import read_checkpoint
from genolong.training.train import compose_config, train
from tests.training.conftest import tiny
from tests.training.helpers import genolong_train

MAX_STEPS = 24


def _step(path) -> int:
    try:
        return int(torch.load(path, weights_only=True)["global_step"])
    except (FileNotFoundError, RuntimeError, EOFError):
        return -1


def test_sigkill_then_resume_matches_uninterrupted_run(plasmid_store, tmp_path):
    overrides = tiny(
        plasmid_store,
        f"trainer.max_steps={MAX_STEPS}",
        "data.batches_per_epoch=7",  # the kill lands mid-epoch: the sampler must pick up mid-epoch
        "callbacks.last_checkpoint.every_n_train_steps=1",
        "model.dropout=0.1",  # dropout and RC augmentation must replay exactly after the resume
        "data.rc_aug=true",
    )
    killed_dir = tmp_path / "killed"
    last = killed_dir / "checkpoints" / "last.ckpt"
    log = open(tmp_path / "killed.log", "w")
    proc = subprocess.Popen([genolong_train(), *overrides, f"hydra.run.dir={killed_dir}"], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while _step(last) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()[-2000:]
    killed_at = _step(last)
    assert 3 <= killed_at < MAX_STEPS
    # whatever the kill interrupted, every file named *.ckpt is a complete checkpoint
    for ckpt in killed_dir.joinpath("checkpoints").glob("*.ckpt"):
        read_checkpoint(ckpt)

    resumed = train(compose_config([*overrides, "ckpt_path=last"], output_dir=killed_dir))
    assert resumed["global_step"] == MAX_STEPS

    reference = train(compose_config(overrides, output_dir=tmp_path / "reference"))
    assert reference["global_step"] == MAX_STEPS

    a = torch.load(tmp_path / "reference" / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(last, weights_only=True)
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, rtol=0, atol=1e-6, msg=key)
    opt_a, opt_b = a["optimizer_states"][0]["state"], b["optimizer_states"][0]["state"]
    assert opt_a.keys() == opt_b.keys()
    for index in opt_a:
        torch.testing.assert_close(opt_b[index]["exp_avg_sq"], opt_a[index]["exp_avg_sq"], rtol=0, atol=1e-8)
    assert a["lr_schedulers"][0]["last_epoch"] == b["lr_schedulers"][0]["last_epoch"] == MAX_STEPS


def test_ckpt_path_last_without_checkpoint_starts_fresh(plasmid_store, tmp_path):
    result = train(compose_config(tiny(plasmid_store, "ckpt_path=last", "trainer.max_steps=2"),
                                  output_dir=tmp_path))
    assert result["global_step"] == 2
