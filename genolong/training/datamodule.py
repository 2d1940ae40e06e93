"""`GenomeDataModule`: windows of tokens and targets from a token store.

- Training: random windows of `window` tokens from the train regions. The window behind each
  sample is a pure function of `(seed, sample key)`, and the sampler numbers samples from the
  trainer's global step, so a resumed run sees exactly the windows an uninterrupted one would,
  and DDP ranks draw disjoint parts of the same global batch.
- With `segments_per_sample` K > 1 (segment memory), a training sample is K consecutive windows
  of one record, (K, window) per tensor (`RandomSegments`).
- Validation / test: fixed tiled windows over the held-out regions; the last window of a region
  is padded, with `padding_mask` True at padding.
- Optional reverse-complement augmentation: tokens through the tokenizer's RC map and reversed,
  targets reversed, strand classes swapped.
- Token and target arrays are memory-mapped lazily in each worker process.
- Several stores (`store_dir` a list, one per genome): they must share the tokenizer, the
  function vocabulary and the structure vocabulary. A training window comes from one span of one
  store, spans drawn in proportion to their length by default (`store_weights` gives each store
  a share instead). Validation tiles the held-out regions of every store.
- Stores with structure targets add `structure` (L,) int64 to every item (IGNORE_INDEX at
  padding), reversed and strand-swapped with the tokens under RC augmentation.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset, Sampler

from genolong.errors import GenolongError
from genolong.data.labels import IGNORE_INDEX, class_prior, loss_targets
from genolong.data.split import SPLITS



@dataclass(frozen=True)
class Span:
    """A run of tokens of one record of store number `store`: `[tok_start, tok_end)`."""

    seqid: str
    tok_start: int
    tok_end: int
    store: int = 0

    @property
    def length(self) -> int:
        return self.tok_end - self.tok_start


def store_list(store_dir) -> list[str]:
    """`data.store_dir` as a list of paths: one string, or a list / ListConfig of them."""
    if isinstance(store_dir, (str, Path)):
        return [str(store_dir)]
    stores = [str(s) for s in store_dir]
    if not stores:
        raise GenolongError("data.store_dir: an empty list of token stores")
    return stores


class _StoreWindows(Dataset):
    """Shared lazy store access: each worker process memory-maps the arrays on first use."""

    def __init__(self, store_dir, window: int, multilabel: bool, n_outputs: int, structure: bool = False):
        self.store_dirs = store_list(store_dir)
        self.window = int(window)
        self.multilabel = multilabel
        self.n_outputs = n_outputs
        self.structure = bool(structure)
        self._stores = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_stores"] = None  # memory maps are opened again in each worker
        return state

    @property
    def stores(self) -> list:
        if self._stores is None:
            from genolong.data.store import TokenStore

            self._stores = [TokenStore(d) for d in self.store_dirs]
        return self._stores

    def _window(self, seqid: str, start: int, end: int, store: int = 0) -> dict:
        """Tokens / targets of `[start, end)` of one store's record, padded to `window` tokens."""
        n = end - start
        source_store = self.stores[store]
        tokens = np.zeros(self.window, dtype=np.int64)  # (L,), 0 = [PAD]
        tokens[:n] = source_store.tokens(seqid)[start:end]
        padding = np.ones(self.window, dtype=bool)  # (L,), True at padding
        padding[:n] = False
        targets = loss_targets(np.asarray(source_store.targets(seqid)[start:end]), self.multilabel, self.window)
        item = {"tokens": tokens, "targets": targets, "padding_mask": padding}
        if self.structure:
            structure = np.full(self.window, IGNORE_INDEX, dtype=np.int64)  # (L,)
            structure[:n] = source_store.structure(seqid)[start:end]
            item["structure"] = structure
        return item

    @staticmethod
    def _to_torch(item: dict) -> dict:
        return {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in item.items()}


class RandomWindows(_StoreWindows):
    """Sample key -> a random window (and strand) drawn from `np.random.default_rng([seed, key])`."""

    def __init__(self, store_dir, spans: list[Span], window: int, multilabel: bool, n_outputs: int,
                 seed: int = 0, rc_aug: bool = False, rc_map: np.ndarray | None = None,
                 class_swap: np.ndarray | None = None, structure: bool = False,
                 structure_swap: np.ndarray | None = None, store_weights: list[float] | None = None):
        super().__init__(store_dir, window, multilabel, n_outputs, structure)
        self.spans = [s for s in spans if s.length > 0]
        if not self.spans:
            raise GenolongError(f"{', '.join(self.store_dirs)}: split.tsv has no training tokens")
        self.weights = span_weights(self.spans, store_weights, len(self.store_dirs))
        self.seed = int(seed)
        self.rc_aug = bool(rc_aug)
        self.rc_map = None if rc_map is None else np.asarray(rc_map, dtype=np.int64)
        self.class_swap = class_swap
        self.structure_swap = structure_swap

    def __len__(self) -> int:
        # keys are unbounded; the sampler decides which are drawn
        return 2**62

    def __getitem__(self, key: int) -> dict:
        rng = np.random.default_rng([self.seed, int(key)])
        span = self.spans[int(rng.choice(len(self.spans), p=self.weights))]
        n = min(self.window, span.length)
        start = span.tok_start + int(rng.integers(0, span.length - n + 1))
        item = self._window(span.seqid, start, start + n, span.store)
        if self.rc_aug and rng.random() < 0.5:
            item = self._reverse_complement(item, n)
        return self._to_torch(item)

    def _reverse_complement(self, item: dict, n: int) -> dict:
        tokens, targets = item["tokens"], item["targets"]
        tokens[:n] = self.rc_map[tokens[:n][::-1]]
        targets[:n] = targets[:n][::-1].copy()
        if not self.multilabel and self.class_swap is not None:
            known = targets[:n] != IGNORE_INDEX
            targets[:n][known] = self.class_swap[targets[:n][known]]
        if "structure" in item:
            structure = item["structure"][:n][::-1].copy()
            item["structure"][:n] = structure if self.structure_swap is None else self.structure_swap[structure]
        return item


def span_weights(spans: list[Span], store_weights: list[float] | None, n_stores: int) -> np.ndarray:
    """Probability of drawing each span: its share of all training tokens, or, with
    `store_weights`, its store's share split among the store's spans by length."""
    lengths = np.array([s.length for s in spans], dtype=np.float64)
    if store_weights is None:
        return lengths / lengths.sum()
    weights = np.asarray(list(store_weights), dtype=np.float64)
    if weights.shape != (n_stores,) or np.any(weights < 0) or not np.isfinite(weights).all():
        raise GenolongError(f"data.store_weights: need {n_stores} non-negative weights, one per store, "
                            f"got {list(store_weights)}")
    store_of = np.array([s.store for s in spans])
    per_store = np.bincount(store_of, weights=lengths, minlength=n_stores)
    p = weights[store_of] * lengths / np.maximum(per_store[store_of], 1.0)
    if p.sum() <= 0:
        raise GenolongError("data.store_weights: every store with training tokens has weight 0")
    return p / p.sum()


class RandomSegments(Dataset):
    """K consecutive segments of one record per sample, for training with a segment memory.

    A sample is a random window of K·window tokens (drawn, strand-flipped and padded exactly as
    `RandomWindows` draws one window), cut into K segments: every tensor gets a segment axis,
    tokens (K, window), targets (K, window[, C]), padding_mask (K, window). Reverse-complemented
    samples are flipped as a whole, so segment k+1 always follows segment k on the strand read.
    """

    def __init__(self, windows: RandomWindows, segments: int):
        self.windows = windows
        self.segments = int(segments)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, key: int) -> dict:
        item = self.windows[key]
        return {name: value.reshape(self.segments, -1, *value.shape[1:]) for name, value in item.items()}


class TiledWindows(_StoreWindows):
    """Fixed, non-overlapping windows tiling each held-out span; the last one of a span is padded."""

    def __init__(self, store_dir, spans: list[Span], window: int, multilabel: bool, n_outputs: int,
                 structure: bool = False):
        super().__init__(store_dir, window, multilabel, n_outputs, structure)
        self.tiles = [
            (span.seqid, start, min(start + self.window, span.tok_end), span.store)
            for span in spans
            for start in range(span.tok_start, span.tok_end, self.window)
        ]

    def __len__(self) -> int:
        return len(self.tiles)

    def __getitem__(self, index: int) -> dict:
        return self._to_torch(self._window(*self.tiles[index]))


def open_stores(store_dirs: list[str]) -> list:
    """The stores of one run; GenolongError unless they share tokenizer and vocabularies."""
    from genolong.data.store import TokenStore, check_compatible

    stores = []
    for store_dir in store_dirs:
        if not (Path(store_dir) / "meta.json").is_file():
            raise GenolongError(f"{store_dir}: not a token store (no meta.json); make one with `genolong prepare`")
        stores.append(TokenStore(store_dir))
    first = stores[0]
    for store in stores[1:]:
        where = (f"{store.path}: the stores of one run share tokenizer and vocabularies (prepare it with "
                 f"--vocab {first.path}/labels.json)")
        check_compatible(where, store.tokenizer, store.labels, first.tokenizer, first.labels,
                         have="its", want=f"{first.path}")
        if (store.structure_labels is None) != (first.structure_labels is None):
            raise GenolongError(f"{where}: one has structure targets and the other has none")
        check_compatible(where, labels=store.structure_labels, expect_labels=first.structure_labels,
                         have="its structure", want=f"{first.path} structure")
    return stores


class StepSampler(Sampler[int]):
    """Sample keys numbered from the trainer's progress, so each step's batch is fixed.

    Local batch `b` of rank `r` holds keys `(b * world + r) * batch_size + i`: the union over ranks
    of local batch `b` is exactly global batch `b` of a single process with `world * batch_size`.
    An epoch is `batches_per_epoch` batches; an iterator started mid-epoch (after a resume)
    yields only the rest of that epoch.
    """

    def __init__(self, batch_size: int, batches_per_epoch: int, start_batch: Callable[[], int] = lambda: 0,
                 rank: int = 0, world_size: int = 1, repeat_batches: int = 0):
        self.batch_size = int(batch_size)
        self.batches_per_epoch = int(batches_per_epoch)
        self.start_batch = start_batch
        self.rank, self.world_size = int(rank), int(world_size)
        self.repeat_batches = int(repeat_batches)

    def __len__(self) -> int:
        return self.batches_per_epoch * self.batch_size

    def __iter__(self) -> Iterator[int]:
        first = int(self.start_batch())
        end = (first // self.batches_per_epoch + 1) * self.batches_per_epoch
        for b in range(first, end):
            key_batch = b % self.repeat_batches if self.repeat_batches > 0 else b
            base = (key_batch * self.world_size + self.rank) * self.batch_size
            yield from range(base, base + self.batch_size)


class StepDataLoader(DataLoader):
    """The training loader. Its position is the trainer's global step, which the checkpoint already
    holds, so its own state is empty; having one tells Lightning that a mid-epoch resume is exact."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state_dict: dict) -> None:
        return None


class GenomeDataModule(LightningDataModule):
    def __init__(
        self,
        store_dir,
        window: int = 512,
        batch_size: int = 8,
        batches_per_epoch: int = 100,
        val_batch_size: int | None = None,
        num_workers: int = 0,
        rc_aug: bool = False,
        seed: int = 0,
        repeat_batches: int = 0,
        pin_memory: bool = False,
        store_weights: list[float] | None = None,
        segments_per_sample: int = 1,
    ):
        super().__init__()
        if int(segments_per_sample) < 1:
            raise GenolongError(f"data.segments_per_sample: must be at least 1, got {segments_per_sample}")
        # > 1: training samples are that many consecutive windows of one record (RandomSegments)
        self.segments_per_sample = int(segments_per_sample)
        if int(window) < 1:
            raise GenolongError(f"data.window: must be at least 1 token, got {window}")
        if int(batch_size) < 1 or int(batches_per_epoch) < 1:
            raise GenolongError(f"data.batch_size / data.batches_per_epoch must be >= 1, got "
                                f"{batch_size} / {batches_per_epoch}")
        self.store_dirs = store_list(store_dir)
        self.stores = open_stores(self.store_dirs)
        self.store_dir = self.store_dirs[0]
        self.store = self.stores[0]
        self.window = int(window)
        self.batch_size = int(batch_size)
        self.batches_per_epoch = int(batches_per_epoch)
        self.val_batch_size = int(val_batch_size or batch_size)
        self.num_workers = int(num_workers)
        self.rc_aug = bool(rc_aug)
        self.seed = int(seed)
        self.repeat_batches = int(repeat_batches)
        self.pin_memory = bool(pin_memory)
        self.store_weights = None if store_weights is None else [float(w) for w in store_weights]
        self.labels = self.store.labels
        self.tokenizer = self.store.tokenizer
        self.structure_labels = self.store.structure_labels
        self.transl_tables = [s.transl_table for s in self.stores]
        self.multilabel = self.labels.kind == "multilabel"
        self.n_outputs = self.labels.n_outputs
        self.window = self._capped_window(self.window)

    def _capped_window(self, window: int) -> int:
        """A window longer than every record would only be padding (and memory: a million-token
        window on a small store fills the machine), so it is cut to the longest record's tokens."""
        longest = max((int(r.tok_end) - int(r.tok_start) for store in self.stores
                       for split in SPLITS for r in store.regions(split)), default=0)
        needed = -(-longest // self.segments_per_sample)  # a sample of K segments spans K windows
        if 0 < needed < window:
            print(f"genolong-train: data.window={window} is longer than the data (longest region "
                  f"{longest:,} tokens); using data.window={needed}", file=sys.stderr)
            return needed
        return window

    @property
    def with_structure(self) -> bool:
        return self.structure_labels is not None

    # ---- what the module needs to know ----------------------------------------------------
    def spans(self, split: str) -> list[Span]:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return [Span(r.seqid, int(r.tok_start), int(r.tok_end), i)
                for i, store in enumerate(self.stores) for r in store.regions(split)
                if int(r.tok_end) > int(r.tok_start)]

    def targets(self, span: Span) -> np.ndarray:
        """The function targets of a span, read into memory."""
        return np.asarray(self.stores[span.store].targets(span.seqid)[span.tok_start:span.tok_end])

    def class_frequencies(self, split: str = "train") -> np.ndarray:
        """The class / term prior (`labels.class_prior`) over a split's tokens, every store's."""
        return class_prior((self.targets(s) for s in self.spans(split)), self.labels.kind, self.n_outputs)

    def structure_frequencies(self, split: str = "train") -> np.ndarray:
        """Each structure class's share of a split's tokens, every store's, averaged over the two
        strands: a genome may hold a class on one strand only (the three M. mycoides genomes have
        no rRNA(+) token), and strand augmentation and both-strand reading make both."""
        n = len(self.structure_labels.classes)
        freq = class_prior((np.asarray(self.stores[s.store].structure(s.seqid)[s.tok_start:s.tok_end])
                            for s in self.spans(split)), "single", n)
        return (freq + freq[np.asarray(self.structure_labels.strand_swap())]) / 2

    # ---- datasets and loaders -------------------------------------------------------------
    def train_dataset(self) -> RandomWindows | RandomSegments:
        k = self.segments_per_sample
        windows = RandomWindows(
            self.store_dirs, self.spans("train"), self.window * k, self.multilabel, self.n_outputs,
            seed=self.seed, rc_aug=self.rc_aug, rc_map=self.tokenizer.rc_map,
            class_swap=self.labels.strand_swap(), structure=self.with_structure,
            structure_swap=self.structure_labels.strand_swap() if self.with_structure else None,
            store_weights=self.store_weights,
        )
        return windows if k == 1 else RandomSegments(windows, k)

    def eval_dataset(self, split: str) -> TiledWindows:
        spans = self.spans(split)
        if not spans:
            raise GenolongError(f"{', '.join(self.store_dirs)}: split.tsv has no {split} region; re-run "
                                "`genolong prepare` with a split that holds one out")
        return TiledWindows(self.store_dirs, spans, self.window, self.multilabel, self.n_outputs,
                            structure=self.with_structure)

    def _loader(self, dataset: Dataset, batch_size: int, sampler: Sampler | None = None,
                drop_last: bool = False, loader_class: type = DataLoader) -> DataLoader:
        return loader_class(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            shuffle=False,
            drop_last=drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        trainer = getattr(self, "trainer", None)
        rank, world, accumulate = 0, 1, 1
        if trainer is not None:
            rank, world, accumulate = trainer.global_rank, trainer.world_size, trainer.accumulate_grad_batches

        def start_batch() -> int:
            return 0 if trainer is None else trainer.global_step * accumulate

        sampler = StepSampler(self.batch_size, self.batches_per_epoch, start_batch, rank, world,
                              self.repeat_batches)
        return self._loader(self.train_dataset(), self.batch_size, sampler, drop_last=True,
                            loader_class=StepDataLoader)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def _eval_loader(self, split: str) -> DataLoader:
        dataset = self.eval_dataset(split)
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.world_size > 1:
            # each rank validates a disjoint share of the fixed tiles; metrics sync over ranks
            from torch.utils.data.distributed import DistributedSampler

            sampler = DistributedSampler(dataset, trainer.world_size, trainer.global_rank, shuffle=False)
            return self._loader(dataset, self.val_batch_size, sampler)
        return self._loader(dataset, self.val_batch_size)
