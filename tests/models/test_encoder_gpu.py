"""The encoders on CUDA: bf16 autocast training steps, and reversible = plain on the device."""

import pytest
import torch

from genolong.models import Encoder, EncoderConfig

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

KINDS = ["lsh", "sliding", "full"]


def cfg(attention, **kw):
    base = dict(vocab_size=64, d_model=64, n_heads=4, n_layers=2, d_ff=128, attention=attention,
                bucket_size=16, n_hashes=2, attention_window=16, global_tokens=(0,), ff_chunks=2)
    base.update(kw)
    return EncoderConfig(**base)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("attention", KINDS)
def test_half_autocast_step_is_finite(attention, dtype):
    torch.manual_seed(0)
    enc = Encoder(cfg(attention, dropout=0.1)).cuda()
    tokens = torch.randint(5, 64, (2, 333), device="cuda")
    tokens[1, 300:] = 0
    with torch.autocast("cuda", dtype=dtype):
        h = enc(tokens)
    h.float().pow(2).mean().backward()
    assert torch.isfinite(h).all()
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters())


@pytest.mark.parametrize("attention", KINDS)
def test_reversible_matches_plain_on_cuda_with_dropout(attention):
    torch.manual_seed(0)
    rev = Encoder(cfg(attention, dropout=0.2, reversible=True)).cuda().double()
    plain = Encoder(cfg(attention, dropout=0.2, reversible=False)).cuda().double()
    plain.load_state_dict(rev.state_dict())
    tokens = torch.randint(5, 64, (2, 97), device="cuda")
    results = []
    for enc in (rev, plain):
        torch.manual_seed(3)
        h = enc(tokens)
        cuda_state = torch.cuda.get_rng_state()
        grads = torch.autograd.grad(h.pow(2).sum(), list(enc.parameters()))
        assert torch.equal(torch.cuda.get_rng_state(), cuda_state)
        results.append((h, grads))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-6, atol=1e-9)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)
