"""Efficient long-sequence encoders: Reformer (LSH), Longformer (sliding window), full attention."""

from genolong.models.process import tune_allocator

# glibc keeps freed memory in the process: 2-2.8x faster training steps (GENOLONG_MALLOC_TUNE=0: off)
tune_allocator()

from genolong.models.config import EncoderConfig  # noqa: E402
from genolong.models.encoder import Encoder  # noqa: E402
from genolong.models.heads import MaskedLMHead, TokenClassificationHead, chunked_linear_loss  # noqa: E402
from genolong.models.memory import Memory  # noqa: E402

__all__ = ["EncoderConfig", "Encoder", "TokenClassificationHead", "MaskedLMHead", "Memory", "chunked_linear_loss",
           "tune_allocator"]
