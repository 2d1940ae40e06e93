"""Transformer-XL segment memory: what one segment leaves for the next.

A long record is read as consecutive segments. Each layer's queries (the current segment only)
attend to `[memory of that layer ; current segment]`, where a layer's memory is the stream that
layer's attention read at the last `EncoderConfig.memory` positions before the segment:

- what is held: for layer i, the `x2` input of its attention branch (`y1 = x1 + f(x2)`), before
  the attention's layer norm, at most `memory` positions, detached. The reversible and the
  irreversible stack run the same arithmetic, so they hold the same memory; reversible backward
  rebuilds the segment's activations from its outputs and reads the memory as a constant (it is
  held, not rebuilt: n_layers x memory x d_model extra values per sample);
- memory positions are keys and values, never queries, and no gradient flows into them;
- rotary positions continue: a segment starting at position p has queries at p, p+1, ... and
  its memory at p - m, ..., p - 1, so every relative distance is what one long run would see;
- LSH layers refuse memory (`EncoderConfig` says so in one line). In shared-QK LSH every sorted
  slot is both a query and a key, so hashing the memory with the segment makes memory positions
  queries whose outputs are thrown away (twice the work at memory = segment), and the bucket
  count, so which keys a token meets, would change with the memory size; nor is there an exact
  reference to test it against. Full and sliding layers carry memory at a known, exact cost;
- global positions (sliding attention) are positions within one window and are refused with
  memory too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Memory:
    """The per-layer states the next segment attends to."""

    states: tuple[torch.Tensor, ...]  # one (batch, m, d_model) per layer, detached
    padding_mask: torch.Tensor  # (batch, m) bool, True where a memory position is padding
    position: int  # rotary position of the next segment's first token

    @property
    def length(self) -> int:
        return self.padding_mask.shape[1]

    @staticmethod
    def update(previous: "Memory | None", inputs: list[torch.Tensor], padding_mask: torch.Tensor,
               size: int) -> "Memory":
        """The memory after a segment: the last `size` positions of `[previous ; segment]`.

        inputs: each layer's attention input over the segment, (batch, L, d_model);
        padding_mask (batch, L) of the segment."""
        length = padding_mask.shape[1]
        start = 0 if previous is None else previous.position
        if previous is not None:
            inputs = [torch.cat([old, new], dim=1) for old, new in zip(previous.states, inputs)]
            padding_mask = torch.cat([previous.padding_mask, padding_mask], dim=1)
        # copies: a view would keep the whole concatenation alive until the next segment
        states = tuple(x[:, -size:].detach().clone() for x in inputs)
        return Memory(states, padding_mask[:, -size:].clone(), start + length)


class LayerTails(list):
    """Collects each layer's attention input as the stack runs, keeping a copy of only its last
    `size` positions, so a reversible stack does not hold every layer's activations."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def append(self, x: torch.Tensor) -> None:
        super().append(x[:, -self.size:].detach().clone())
