"""Annotate a record as one stream: segment by segment, left to right, carrying the encoder's
segment memory (Transformer-XL), on both strands.

The tiled path cuts a record into overlapping windows, so no token sees further than half a
window. A checkpoint trained with `model.memory` > 0 can instead read the record once: each
segment of `segment` tokens attends to the memory the previous segments left. A token then sees
context on its left only, so the record is read again as its reverse complement, and the two
readings are averaged (the reverse one flipped back, stranded classes swapped) - the same
averaging `rc_average` does for tiled windows, so a record shorter than one segment gets exactly
the logits a tiled run with `window = segment` and `rc_average` gives it.

Heads: the encoder's local states of each segment go to the heads one segment late, so that
the function head's `context_pool` mean (a centred window of the local states) reaches across
segment boundaries exactly as it does inside a window: the states are pooled over
`[segment - half ; segment ; segment + half]` of the stream, `half = context_pool // 2`. Both
heads then read what `TokenNet.forward` gives them (function head: pooled states; structure head:
local states), and with `states` the pooled function states follow the logits as columns, as in
`WithStates`.

Memory: the network holds one segment and its memory (O(segment + memory) activations) whatever
the record's length, plus the local states of at most two segments and `half` tokens for the
heads; the record's tokens and its (n_tokens, C) logits are held whole, as in the tiled path. The
two strands are two streams; `batch_size` >= 2 runs them as rows of one batch, 1 one after the
other; rows are independent, so the output does not depend on it.
"""

from __future__ import annotations

import numpy as np

from genolong.errors import GenolongError


def stream_memory(net) -> int:
    """The segment memory of `net`'s encoder; GenolongError when it has none."""
    cfg = getattr(getattr(net, "encoder", None), "cfg", None)
    memory = int(getattr(cfg, "memory", 0) or 0)
    if memory < 1:
        raise GenolongError("checkpoint: --stream needs a checkpoint trained with a segment memory "
                            "(model.memory > 0); this one has none: annotate it without --stream")
    return memory


class StreamReader:
    """`reader.record_logits(tokens (n,)) -> (n, C)` float32 logits averaged over both strands.

    `class_swap` maps each output column to its other-strand column (None: no stranded column);
    `columns` is the output width: the function classes, then the structure classes when the
    network has a structure head, then `d_model` state columns with `states`."""

    def __init__(self, net, tokenizer, class_swap, columns: int, segment: int, batch_size: int = 2,
                 device: str = "cpu", states: bool = False):
        from genolong.models.strand_average import rc_tables

        stream_memory(net)
        if segment < 1:
            raise GenolongError(f"--window {segment}: must be at least 1 token")
        self.net, self.segment, self.batch_size, self.device = net, int(segment), int(batch_size), device
        self.columns, self.states = int(columns), bool(states)
        rc_map, swap = rc_tables(tokenizer, class_swap)
        self.rc_map = rc_map.numpy()
        self.class_swap = None if swap is None else swap.numpy()
        pool = int(net.encoder.cfg.context_pool or 0)
        self.pool = pool if pool > 1 else 0
        self.half = self.pool // 2

    def record_logits(self, tokens: np.ndarray, on_segment=None) -> np.ndarray:
        """Logits (n_tokens, C) of one record; `on_segment(start, end)` after each forward segment."""
        forward = np.asarray(tokens, dtype=np.int64)
        n = len(forward)
        streams = [forward, self.rc_map[forward[::-1]]]
        # one (n, C) sum: each reading is added as it comes, the reverse one flipped back onto
        # forward positions with stranded classes swapped
        total = np.zeros((n, self.columns), dtype=np.float32)

        def add(row: int, start: int, end: int, logits: np.ndarray) -> None:
            if row == 0:
                total[start:end] += logits
                if on_segment is not None:
                    on_segment(start, end)
                return
            back = logits[::-1] if self.class_swap is None else logits[::-1][:, self.class_swap]
            total[n - end:n - start] += back

        rows = max(1, min(self.batch_size, len(streams)))
        for first in range(0, len(streams), rows):
            self._read(streams[first:first + rows], first, add)
        total *= 0.5
        return total

    def _read(self, streams: list[np.ndarray], first_row: int, add) -> None:
        """Equal-length token streams as rows of one batch, segment by segment; each row's
        segment outputs (L, C) go to `add(row, start, end, outputs)`, one segment late."""
        import torch

        n = len(streams[0])
        memory, local, offset = None, None, 0
        pending = []  # spans whose heads wait for `half` tokens of what follows them
        for start in range(0, n, self.segment):
            end = min(start + self.segment, n)
            tokens = torch.from_numpy(np.stack([s[start:end] for s in streams])).to(self.device)  # (rows, L)
            padding = torch.zeros_like(tokens, dtype=torch.bool)  # (rows, L)
            with torch.inference_mode():
                h, memory = self.net.encoder(tokens, padding, memory=memory, return_memory=True,
                                             pool=False)  # (rows, L, d)
            local = h if local is None else torch.cat([local, h], dim=1)  # (rows, end - offset, d)
            pending.append((start, end))
            while pending and pending[0][1] + self.half <= end:
                offset, local = self._emit(pending.pop(0), local, offset, end, first_row, add)
        for span in pending:
            offset, local = self._emit(span, local, offset, n, first_row, add)

    def _emit(self, span, local, offset: int, available: int, first_row: int, add):
        """Run the heads over `span` from the buffered local states (stream positions `offset` to
        `available`); returns the new offset and the buffer cut to what later spans can reach."""
        import torch

        from genolong.models.encoder import context_mean

        start, end = span
        lo, hi = max(offset, start - self.half), min(available, end + self.half)
        h = local[:, lo - offset:hi - offset]  # (rows, hi - lo, d)
        padding = torch.zeros(h.shape[:2], dtype=torch.bool, device=h.device)  # (rows, hi - lo)
        with torch.inference_mode():
            pooled = context_mean(h, padding, self.pool) if self.pool else h  # (rows, hi - lo, d)
            net = self.net
            parts = [net.head(pooled, padding)]  # (rows, hi - lo, C_f)
            if net.structure_head is not None:
                parts.append(net.structure_head(h, padding))  # (rows, hi - lo, C_s)
            if self.states:
                parts.append(pooled)
            out = torch.cat(parts, dim=-1)[:, start - lo:end - lo]  # (rows, L, C)
        if out.shape[-1] != self.columns:
            raise GenolongError(f"checkpoint: network outputs {out.shape[-1]} columns but its label "
                                f"vocabularies need {self.columns}")
        out = out.float().cpu().numpy()
        for row in range(out.shape[0]):
            add(first_row + row, start, end, out[row])
        keep = max(offset, end - self.half)
        return keep, local[:, keep - offset:]
