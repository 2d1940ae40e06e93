"""Annotate a record as one stream: segment by segment, left to right, carrying the encoder's
segment memory (Transformer-XL), on both strands.

The tiled path cuts a record into overlapping windows, so no token sees further than half a
window. A checkpoint trained with `model.memory` > 0 can instead read the record once: each
segment of `segment` tokens attends to the memory the previous segments left. A token then sees
context on its left only, so the record is read again as its reverse complement, and the two
readings are averaged (the reverse one flipped back, stranded classes swapped) - the same
averaging `rc_average` does for tiled windows, so a record shorter than one segment gets exactly
the logits a tiled run with `window = segment` and `rc_average` gives it.

Memory: the network holds one segment and its memory (O(segment + memory) activations) whatever
the record's length; the record's tokens and its (n_tokens, C) logits are held whole, as in the
tiled path. The two strands are two streams; `batch_size` >= 2 runs them as rows of one batch,
1 one after the other; rows are independent, so the output does not depend on it.
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
    """`reader.record_logits(tokens (n,)) -> (n, C)` float32 logits averaged over both strands."""

    def __init__(self, net, tokenizer, labels, segment: int, batch_size: int = 2, device: str = "cpu"):
        from genolong.models.strand_average import rc_tables

        stream_memory(net)
        if segment < 1:
            raise GenolongError(f"--window {segment}: must be at least 1 token")
        self.net, self.segment, self.batch_size, self.device = net, int(segment), int(batch_size), device
        self.n_classes = len(labels.classes)
        rc_map, class_swap = rc_tables(tokenizer, labels.strand_swap())
        self.rc_map = rc_map.numpy()
        self.class_swap = None if class_swap is None else class_swap.numpy()

    def record_logits(self, tokens: np.ndarray, on_segment=None) -> np.ndarray:
        """Logits (n_tokens, C) of one record; `on_segment(start, end)` after each forward segment."""
        forward = np.asarray(tokens, dtype=np.int64)
        n = len(forward)
        streams = [forward, self.rc_map[forward[::-1]]]
        # one (n, C) sum: each reading is added as it comes, the reverse one flipped back onto
        # forward positions with stranded classes swapped
        total = np.zeros((n, self.n_classes), dtype=np.float32)

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
        segment logits (L, C) go to `add(row, start, end, logits)`."""
        import torch

        n = len(streams[0])
        encoder, head = self.net.encoder, self.net.head
        memory = None
        for start in range(0, n, self.segment):
            end = min(start + self.segment, n)
            tokens = torch.from_numpy(np.stack([s[start:end] for s in streams])).to(self.device)  # (rows, L)
            padding = torch.zeros_like(tokens, dtype=torch.bool)  # (rows, L)
            with torch.inference_mode():
                h, memory = encoder(tokens, padding, memory=memory, return_memory=True)  # (rows, L, d)
                logits = head(h, padding)  # (rows, L, C)
            if logits.shape[-1] != self.n_classes:
                raise GenolongError(f"checkpoint: network outputs {logits.shape[-1]} classes but its label "
                                    f"vocabulary has {self.n_classes}")
            logits = logits.float().cpu().numpy()
            for row in range(len(streams)):
                add(first_row + row, start, end, logits[row])
