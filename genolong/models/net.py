"""The trainable network: an encoder plus a function head and an optional structure head, built
from plain-typed settings.

`build_net` is the one place that turns a checkpoint's hyperparameters (an `EncoderConfig` as a
dict, the task, the output width) back into a module, so training and loading agree by
construction.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

TASKS = ("annotate", "mlm")


class TokenNet(nn.Module):
    """`net(tokens (B, L), padding_mask (B, L) or None) -> logits (B, L, n_outputs)`.

    With a `structure_head` the logits are (B, L, C_function + C_structure): the function head's
    columns first, the structure head's last. The structure head reads the encoder's states
    before `context_pool` (a gene part and its codon position are local; the pooled mean that
    carries gene-scale function signal would blur them).
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, structure_head: nn.Module | None = None):
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.structure_head = structure_head

    def states(self, tokens: torch.Tensor, padding_mask: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What each head reads: (function states, structure states or None), each (B, L, d_model)."""
        if self.structure_head is None:
            return self.encoder(tokens, padding_mask=padding_mask), None
        from genolong.models.encoder import context_mean

        local = self.encoder(tokens, padding_mask=padding_mask, pool=False)  # (B, L, d_model)
        width = self.encoder.cfg.context_pool
        if width <= 1:
            return local, local
        if padding_mask is None:
            padding_mask = tokens == self.encoder.cfg.pad_id
        return context_mean(local, padding_mask, width), local

    def forward(self, tokens: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        function_states, structure_states = self.states(tokens, padding_mask)
        logits = self.head(function_states, padding_mask)  # (B, L, n_outputs)
        if structure_states is None:
            return logits
        return torch.cat([logits, self.structure_head(structure_states, padding_mask)], dim=-1)  # (B, L, C_f + C_s)


class WithStates(nn.Module):
    """`net` whose output also carries the function states the heads read: (B, L, C + d_model),
    logits first. Tiling, both-strand averaging and stitching then carry the states that the
    per-gene function head (`models/gene_function.py`) pools over each gene's tokens."""

    def __init__(self, net: TokenNet):
        super().__init__()
        self.net = net

    def forward(self, tokens: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        function_states, structure_states = self.net.states(tokens, padding_mask)  # (B, L, d_model) each
        parts = [self.net.head(function_states, padding_mask)]
        if structure_states is not None:
            parts.append(self.net.structure_head(structure_states, padding_mask))
        return torch.cat(parts + [function_states], dim=-1)  # (B, L, C_f + C_s + d_model)


def encoder_config_dict(config: Any) -> dict:
    """An `EncoderConfig` (or a mapping of its fields) as a dict of plain types."""
    if dataclasses.is_dataclass(config):
        config = dataclasses.asdict(config)
    return {key: list(value) if isinstance(value, tuple) else value for key, value in dict(config).items()}


def make_encoder_config(config: Any):
    """Rebuild an `EncoderConfig` from a dict, turning lists back into the tuples it expects."""
    from genolong.models import EncoderConfig

    if isinstance(config, EncoderConfig):
        return config
    fields = {f.name for f in dataclasses.fields(EncoderConfig)}
    values = dict(config)
    if "window" in values and "attention_window" not in values:
        # checkpoints written before the rename called the sliding half-width `window`
        values["attention_window"] = values.pop("window")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in fields}
    return EncoderConfig(**values)


def build_net(encoder_config: Any, task: str, n_outputs: int, n_structure: int = 0) -> TokenNet:
    """Encoder + token-classification head (`annotate`) or masked-LM head (`mlm`); `n_structure`
    > 0 adds a structure head of that many classes (annotate only)."""
    from genolong.models import Encoder, MaskedLMHead, TokenClassificationHead

    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    config = make_encoder_config(encoder_config)
    encoder = Encoder(config)
    if task == "mlm":
        head = MaskedLMHead(config.d_model, n_outputs)
    else:
        head = TokenClassificationHead(config.d_model, n_outputs, dropout=config.dropout, hidden=config.head_hidden)
    structure_head = None
    if n_structure and task == "annotate":
        structure_head = TokenClassificationHead(config.d_model, n_structure, dropout=config.dropout,
                                                 hidden=config.head_hidden)
    return TokenNet(encoder, head, structure_head)
