"""`EncoderConfig`: one typed dataclass of plain values that describes an encoder.

Plain types only, so `dataclasses.asdict(cfg)` goes into checkpoint hyperparameters and
`EncoderConfig(**d)` rebuilds it; YAML/JSON lists are accepted where tuples are expected.
"""

from __future__ import annotations

from dataclasses import dataclass

from genolong.errors import GenolongError

ATTENTION_KINDS = ("lsh", "sliding", "full")


@dataclass
class EncoderConfig:
    vocab_size: int = 4101
    d_model: int = 256
    n_heads: int = 4
    n_layers: int = 4
    d_ff: int = 1024
    # "lsh" | "sliding" | "full", or one of those per layer
    attention: str | tuple[str, ...] = "lsh"
    # LSH: tokens per chunk and hashing rounds; buckets are sized so a bucket is about a chunk
    bucket_size: int = 64
    n_hashes: int = 4
    # sliding: tokens attended on each side; global positions attend and are attended everywhere
    attention_window: int = 256
    global_tokens: tuple[int, ...] = ()
    # how the stack runs, not what it holds: these never change the parameters
    reversible: bool = True
    ff_chunks: int = 1
    dropout: float = 0.0
    rotary_base: float = 10000.0
    pad_id: int = 0
    # seeds the LSH rotations in eval mode, so inference is deterministic
    lsh_eval_seed: int = 0
    # odd width (tokens) of a centred mean over the final states, padding excluded; 0 = off.
    # Function labels are constant along a gene, so a token's logits should see the gene's
    # composition, not only its own k-mer: this is what lets a model trained on a few hundred
    # genes beat the term prior. It blurs gene boundaries by width/2, so keep it off for mlm.
    context_pool: int = 0
    # hidden width of the annotate head (0: one linear layer). >0: the head standardises each
    # feature over the batch's real positions (batch norm), then a GELU MLP. Pooled states share
    # a large genome-wide component; standardising is what lets the head see the gene-to-gene
    # differences (the k-mer logistic regression standardises its features for the same reason).
    head_hidden: int = 0
    # Transformer-XL recurrence: each layer also attends to the last `memory` positions it read
    # in the previous segment (detached, never queries); 0 = off. Full and sliding layers only:
    # see `genolong/models/memory.py` for why LSH refuses it.
    memory: int = 0

    def __post_init__(self) -> None:
        # any sequence: Hydra passes an OmegaConf ListConfig, which checkpoints cannot hold
        if not isinstance(self.attention, str):
            self.attention = tuple(str(a) for a in self.attention)
        self.global_tokens = tuple(int(g) for g in self.global_tokens)
        self._validate()

    def _validate(self) -> None:
        def bad(msg: str) -> GenolongError:
            return GenolongError(f"EncoderConfig: {msg}")

        for name in ("vocab_size", "d_model", "n_heads", "n_layers", "d_ff", "bucket_size",
                     "n_hashes", "attention_window", "ff_chunks"):
            if int(getattr(self, name)) < 1:
                raise bad(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise bad(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if (self.d_model // self.n_heads) % 2:
            raise bad(f"head size {self.d_model // self.n_heads} must be even for rotary positions")
        if not 0.0 <= self.dropout < 1.0:
            raise bad(f"dropout must be in [0, 1), got {self.dropout}")
        kinds = self.layer_attention
        if len(kinds) != self.n_layers:
            raise bad(f"attention lists {len(kinds)} layers but n_layers is {self.n_layers}")
        for kind in kinds:
            if kind not in ATTENTION_KINDS:
                raise bad(f"attention {kind!r} is not one of {', '.join(ATTENTION_KINDS)}")
        if any(g < 0 for g in self.global_tokens):
            raise bad(f"global_tokens must be non-negative positions, got {self.global_tokens}")
        if self.context_pool < 0 or (self.context_pool and self.context_pool % 2 == 0):
            raise bad(f"context_pool must be 0 (off) or an odd number of tokens, got {self.context_pool}")
        if self.head_hidden < 0:
            raise bad(f"head_hidden must be 0 (a linear head) or a positive width, got {self.head_hidden}")
        if self.memory < 0:
            raise bad(f"memory must be 0 (off) or a number of positions, got {self.memory}")
        if self.memory and "lsh" in kinds:
            raise bad("memory needs full or sliding attention in every layer; LSH layers cannot "
                      "carry a segment memory (hashing it with the segment makes memory positions "
                      "queries and has no exact reference)")
        if self.memory and self.global_tokens:
            raise bad("memory with global_tokens: global positions belong to one window, not to a stream")
        if not 0 <= self.pad_id < self.vocab_size:
            raise bad(f"pad_id {self.pad_id} is outside the vocabulary of {self.vocab_size}")

    @property
    def layer_attention(self) -> tuple[str, ...]:
        """The attention kind of each layer."""
        if isinstance(self.attention, str):
            return (self.attention,) * self.n_layers
        return tuple(self.attention)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads
