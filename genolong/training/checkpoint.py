"""Loading a training checkpoint for inference, and writing checkpoints atomically.

A checkpoint written by `genolong-train` describes itself: its hyperparameters hold the encoder
config, the tokenizer, the label vocabulary and the task, all as plain types. So
`load_checkpoint(path)` rebuilds the network with `torch.load(..., weights_only=True)` and never
unpickles an arbitrary object, and without importing Lightning.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genolong.errors import GenolongError

HPARAMS_KEY = "hyper_parameters"
STATE_KEY = "state_dict"
NET_PREFIX = "net."
REQUIRED_HPARAMS = ("task", "encoder_config", "tokenizer", "labels", "n_outputs")


@dataclass
class LoadedCheckpoint:
    net: nn.Module  # eval mode: net(tokens (B, L), padding_mask) -> logits (B, L, n_outputs)
    tokenizer: Any  # KmerTokenizer
    labels: Any  # LabelVocab
    encoder_config: Any  # EncoderConfig
    task: str  # "annotate" or "mlm"
    hparams: dict = field(default_factory=dict)
    structure_labels: Any = None  # LabelVocab of the structure head (logits after the function columns), or None
    transl_table: int | None = None  # the training genomes' genetic code (None: unknown or mixed)
    window: int | None = None  # the training window, tokens
    global_step: int = 0
    path: str = ""


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict:
    """The raw checkpoint dict, loaded with `weights_only=True`; GenolongError when unusable."""
    path = Path(path)
    if not path.is_file():
        raise GenolongError(f"{path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError, OSError,
            # the weights-only unpickler fails on arbitrary bytes with assorted exceptions
            IndexError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GenolongError(f"{path}: not a readable checkpoint (truncated or wrong format): {first_line}") from None
    if not isinstance(checkpoint, dict) or STATE_KEY not in checkpoint:
        raise GenolongError(f"{path}: not a genolong checkpoint: it has no '{STATE_KEY}'")
    hparams = checkpoint.get(HPARAMS_KEY)
    missing = [key for key in REQUIRED_HPARAMS if not isinstance(hparams, dict) or key not in hparams]
    if missing:
        raise GenolongError(f"{path}: not a genolong checkpoint: hyperparameters lack {', '.join(missing)}")
    return checkpoint


def net_state_dict(checkpoint: dict) -> dict:
    """The network's weights, without the LightningModule's `net.` prefix."""
    state = checkpoint[STATE_KEY]
    return {key[len(NET_PREFIX):]: value for key, value in state.items() if key.startswith(NET_PREFIX)}


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> LoadedCheckpoint:
    """Rebuild network, tokenizer and labels from a checkpoint written by `genolong-train`."""
    from genolong.data.labels import LabelVocab
    from genolong.models.net import build_net, make_encoder_config
    from genolong.data.tokenizer import KmerTokenizer

    checkpoint = read_checkpoint(path, map_location)
    hparams = checkpoint[HPARAMS_KEY]
    try:
        encoder_config = make_encoder_config(hparams["encoder_config"])
        tokenizer = KmerTokenizer.from_dict(hparams["tokenizer"])
        labels = LabelVocab.from_dict(hparams["labels"])
        structure = hparams.get("structure_labels")  # absent from checkpoints older than the structure head
        structure_labels = LabelVocab.from_dict(structure) if structure else None
        net = build_net(encoder_config, hparams["task"], int(hparams["n_outputs"]),
                        structure_labels.n_outputs if structure_labels else 0)
    except (TypeError, KeyError, ValueError) as exc:
        raise GenolongError(f"{path}: checkpoint hyperparameters do not describe a network: {exc}") from None
    try:
        net.load_state_dict(net_state_dict(checkpoint))
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise GenolongError(f"{path}: checkpoint weights do not fit its own config: {first_line}") from None
    net.to(map_location if isinstance(map_location, (str, torch.device)) else "cpu").eval()
    return LoadedCheckpoint(
        net=net,
        tokenizer=tokenizer,
        labels=labels,
        encoder_config=encoder_config,
        task=str(hparams["task"]),
        hparams=dict(hparams),
        structure_labels=structure_labels,
        transl_table=None if hparams.get("transl_table") is None else int(hparams["transl_table"]),
        window=None if hparams.get("window") is None else int(hparams["window"]),
        global_step=int(checkpoint.get("global_step", 0)),
        path=str(path),
    )
