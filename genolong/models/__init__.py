"""Efficient long-sequence encoders: Reformer (LSH), Longformer (sliding window), full attention."""

from genolong.models.config import EncoderConfig
from genolong.models.encoder import Encoder
from genolong.models.heads import MaskedLMHead, TokenClassificationHead
from genolong.models.memory import Memory

__all__ = ["EncoderConfig", "Encoder", "TokenClassificationHead", "MaskedLMHead", "Memory"]
