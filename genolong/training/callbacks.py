"""Lightning plumbing for training: atomic checkpoint writes and throughput / memory logging."""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

import torch
from pytorch_lightning import Callback
from pytorch_lightning.plugins.io import TorchCheckpointIO

from genolong.atomic import atomic_path


class AtomicCheckpointIO(TorchCheckpointIO):
    """A killed run never leaves a half-written `.ckpt`: write a temp file, fsync, then rename."""

    def save_checkpoint(self, checkpoint: dict, path: Any, storage_options: Any = None) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = True) -> dict:
        # Resuming reads only tensors and plain types, so arbitrary pickles are refused.
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def peak_memory_mb(device: torch.device) -> float:
    """CUDA peak allocated memory on a GPU, peak RSS on the CPU, in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / (1024 * 1024)
    return peak_rss_mb()


class ThroughputMonitor(Callback):
    """Logs `train/tokens_per_s` (real, non-padding tokens over all ranks) and `perf/peak_mem_mb`.

    The clock runs from one training batch's end to the next, so data loading is included and
    validation pauses are not. Totals are kept for the run summary (`tokens_per_s` property).
    """

    def __init__(self, log_every_n_steps: int = 10):
        super().__init__()
        self.log_every_n_steps = max(1, int(log_every_n_steps))
        self.total_tokens = 0
        self.total_seconds = 0.0
        self._window_tokens = 0
        self._window_seconds = 0.0
        self._last = None

    @property
    def tokens_per_s(self) -> float:
        return self.total_tokens / self.total_seconds if self.total_seconds > 0 else 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._last is None:
            self._last = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        tokens = int((~batch["padding_mask"]).sum()) * trainer.world_size
        elapsed = now - self._last
        self._last = now
        self.total_tokens += tokens
        self.total_seconds += elapsed
        self._window_tokens += tokens
        self._window_seconds += elapsed
        if trainer.global_step % self.log_every_n_steps == 0 and self._window_seconds > 0:
            pl_module.log("train/tokens_per_s", self._window_tokens / self._window_seconds, rank_zero_only=True)
            pl_module.log("perf/peak_mem_mb", peak_memory_mb(pl_module.device), rank_zero_only=True)
            self._window_tokens, self._window_seconds = 0, 0.0

    def on_validation_start(self, trainer, pl_module) -> None:
        self._last = None
