"""Every attention kind, reversible or not, runs forward and backward and round-trips its config."""

import dataclasses

import pytest
import torch

from genolong.errors import GenolongError
from genolong.models import Encoder, EncoderConfig, MaskedLMHead, TokenClassificationHead


def tiny(**kw) -> EncoderConfig:
    base = dict(vocab_size=50, d_model=32, n_heads=2, n_layers=3, d_ff=64, bucket_size=8,
                n_hashes=2, attention_window=8, global_tokens=(0,), ff_chunks=3, dropout=0.1)
    base.update(kw)
    return EncoderConfig(**base)


@pytest.mark.parametrize("attention", ["lsh", "sliding", "full", ("lsh", "sliding", "full")])
@pytest.mark.parametrize("reversible", [True, False])
def test_forward_backward_all_kinds(attention, reversible):
    torch.manual_seed(0)
    cfg = tiny(attention=attention, reversible=reversible)
    enc = Encoder(cfg)
    head = TokenClassificationHead(cfg.d_model, 5)
    tokens = torch.randint(5, 50, (2, 37))
    tokens[1, 30:] = 0
    h = enc(tokens)
    assert h.shape == (2, 37, 32)
    assert torch.isfinite(h).all()
    head(h).logsumexp(-1).mean().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert enc.layers[0].attn.in_proj.weight.grad.abs().sum() > 0


def test_mlm_head_shape():
    head = MaskedLMHead(32, 50)
    assert head(torch.randn(2, 7, 32)).shape == (2, 7, 50)


def test_config_round_trips_through_plain_dict():
    cfg = tiny(attention=["lsh", "full", "sliding"], global_tokens=[0, 5])
    d = dataclasses.asdict(cfg)
    assert d["attention"] == ("lsh", "full", "sliding")
    assert EncoderConfig(**d) == cfg
    assert EncoderConfig(**{**d, "attention": list(d["attention"])}) == cfg


@pytest.mark.parametrize("bad", [dict(attention="linear"), dict(d_model=30),
                                 dict(attention=("lsh", "full")), dict(dropout=1.5),
                                 dict(context_pool=4), dict(context_pool=-1)])
def test_config_rejects_mistakes(bad):
    with pytest.raises(GenolongError, match="EncoderConfig"):
        tiny(**bad)


@pytest.mark.parametrize("width", [5, 31])  # 31: every window reaches past both ends
def test_context_pool_is_the_mean_over_real_neighbours(width):
    """The pooled state of position i is the plain mean of the unpooled states of the real
    positions within width // 2 of i: padding neither counts nor shifts the edges."""
    torch.manual_seed(0)
    plain = Encoder(tiny(attention="full", dropout=0.0)).eval()
    pooled = Encoder(tiny(attention="full", dropout=0.0, context_pool=width)).eval()
    pooled.load_state_dict(plain.state_dict())
    tokens = torch.randint(5, 50, (2, 13))
    tokens[1, 9:] = 0  # 4 padding positions
    with torch.no_grad():
        h, p = plain(tokens), pooled(tokens)
    for b, n_real in ((0, 13), (1, 9)):
        for i in range(n_real):
            lo, hi = max(0, i - width // 2), min(n_real, i + width // 2 + 1)
            torch.testing.assert_close(p[b, i], h[b, lo:hi].mean(0), rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # and the real positions do not see the padding tokens' ids
        torch.testing.assert_close(pooled(tokens[1:, :9])[0], p[1, :9], rtol=1e-5, atol=1e-6)
