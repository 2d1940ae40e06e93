"""Mixed precision on CPU: every attention runs under bf16 and fp16 autocast, forward and
backward, reversible or not, with scores, softmax and log-sum-exp merges in float32."""

import pytest
import torch

from genolong.models import Encoder, EncoderConfig
from genolong.models.band_attention import band_attention
from genolong.models.chunk_attention import chunk_attention, merge_partials
from genolong.models.context import AttentionContext
from genolong.models.full_attention import FullAttention
from genolong.models.lsh_attention import lsh_attend, lsh_rotations
from genolong.models.masking import PAD_VALUE
from genolong.models.sliding_attention import sliding_attend

HALF = [torch.bfloat16, torch.float16]


def _qkv(b=2, h=2, length=150, d=16, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(b, h, length, d, generator=g).to(device) for _ in range(3))


def _padding(b, length, real, device="cpu"):
    pad = torch.zeros(b, length, dtype=torch.bool)
    for i, n in enumerate(real):
        pad[i, n:] = True
    return pad.to(device)


def _rotations(d, device="cpu", n_buckets=6):
    return tuple(r.to(device) for r in lsh_rotations(d, 3, n_buckets, "cpu", torch.float32,
                                                     torch.Generator().manual_seed(5)))


def _attentions(device="cpu"):
    """name -> fn(q, k, v): each attention function, on (batch, heads, L, d) inputs."""
    pad = _padding(2, 150, [150, 97], device)
    glob = torch.zeros(2, 150, dtype=torch.bool, device=device)
    glob[:, [0, 40]] = True
    zero = torch.zeros(1, device=device)
    return {
        "lsh": lambda q, k, v: lsh_attend(q, v, _rotations(q.shape[-1], device), pad, 16),
        "sliding": lambda q, k, v: sliding_attend(q, k, v, 12, pad),
        "sliding_global": lambda q, k, v: sliding_attend(q, k, v, 12, pad, glob),
        "chunk": lambda q, k, v: chunk_attention(q, k, v, zero, 0.25)[0],
    }


def _grads(fn, inputs):
    inputs = [t.detach().requires_grad_(True) for t in inputs]
    out = fn(*inputs)
    # small integers: exact in every dtype, so both runs back-propagate the same gradient
    weights = torch.arange(out.numel(), device=out.device).remainder(9).sub(4).float()
    weights = weights.view_as(out)
    (out.float() * weights).sum().backward()
    # LSH shares q and k: its k input is unused
    return out.detach(), [t.grad for t in inputs if t.grad is not None]


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("name", list(_attentions()))
def test_autocast_does_not_reach_the_scores(name, dtype):
    """float32 inputs under autocast give bit-for-bit the float32 result, gradients included:
    autocast would otherwise run the score matmuls in half precision."""
    fn = _attentions()[name]
    qkv = _qkv()
    ref, ref_grads = _grads(fn, qkv)
    with torch.autocast("cpu", dtype=dtype):
        out, grads = _grads(fn, qkv)
    assert out.dtype == torch.float32
    assert torch.equal(out, ref)
    assert len(grads) == len(ref_grads) >= 2
    for a, b in zip(grads, ref_grads):
        assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("name", list(_attentions()))
def test_half_inputs_are_scored_in_float32(name, dtype):
    """Half inputs give the float32 result on the same (rounded) values, rounded once at the
    end: exactly what computing scores and softmax in float32 gives."""
    fn = _attentions()[name]
    qkv = [t.to(dtype) for t in _qkv(seed=1)]
    out, grads = _grads(fn, qkv)
    ref, ref_grads = _grads(fn, [t.float() for t in qkv])
    assert out.dtype == dtype
    assert torch.equal(out, ref.to(dtype))
    assert len(grads) == len(ref_grads) >= 2
    for a, b in zip(grads, ref_grads):
        assert torch.equal(a, b.to(dtype))


def test_band_attention_under_autocast_equals_float32():
    g = torch.Generator().manual_seed(3)
    q = torch.randn(3, 4, 8, 16, generator=g)
    k, v = torch.randn(2, 3, 6, 8, 16, generator=g)
    bias = torch.zeros(1, 4, 8, 24).masked_fill_(torch.rand(1, 4, 8, 24, generator=g) < 0.2,
                                                 PAD_VALUE)
    ref = band_attention(q, k, v, bias, 0.25)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = band_attention(q, k, v, bias, 0.25)
    for a, b in zip(out, ref):
        assert a.dtype == torch.float32 and torch.equal(a, b)


def test_merge_in_float32_under_autocast():
    g = torch.Generator().manual_seed(4)
    out = torch.randn(2, 3, 5, 8, generator=g, dtype=torch.bfloat16)
    lse = torch.randn(2, 3, 5, generator=g) * 30
    ref, ref_lse = merge_partials(out.float(), lse, dim=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        merged, merged_lse = merge_partials(out, lse, dim=1)
    assert merged.dtype == torch.bfloat16 and merged_lse.dtype == torch.float32
    assert torch.equal(merged, ref.to(torch.bfloat16))
    assert torch.equal(merged_lse, ref_lse)


@pytest.mark.parametrize("dtype", HALF)
def test_full_attention_layer_under_autocast(dtype):
    torch.manual_seed(0)
    layer = FullAttention(32, 2)
    x = torch.randn(2, 40, 32)
    q, k, v = (torch.randn(2, 2, 40, 16) for _ in range(3))
    ctx = AttentionContext.build(torch.ones(2, 40, dtype=torch.long), _padding(2, 40, [40, 31]),
                                 (), None, torch.ones(40, 16), torch.zeros(40, 16))
    ref = layer.attend(q, k, v, ctx)
    with torch.autocast("cpu", dtype=dtype):
        out = layer.attend(q, k, v, ctx)
        assert layer(x, ctx).dtype == dtype  # the projections do run in half precision
    assert torch.equal(out, ref)


def _encoder(attention, reversible, device="cpu"):
    # LSH with 2 chunks of 64 sees every key whatever the hash: half-precision rounding of the
    # projections cannot move a token to another bucket and change which keys it meets
    return Encoder(EncoderConfig(vocab_size=64, d_model=64, n_heads=4, n_layers=2, d_ff=128,
                                 attention=attention, bucket_size=64, n_hashes=2,
                                 attention_window=16, global_tokens=(0,), reversible=reversible,
                                 ff_chunks=2)).to(device)


# measured max |error| of the outputs and max relative error of a parameter gradient were
# 0.0033 and 0.0072 (bf16), 0.0004 and 0.0009 (fp16); the bounds leave ~3x room
TOLERANCE = {torch.bfloat16: (0.01, 0.025), torch.float16: (0.0015, 0.003)}


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("reversible", [True, False])
@pytest.mark.parametrize("attention", ["lsh", "sliding", "full"])
def test_encoder_under_autocast_matches_float32(attention, reversible, dtype, device="cpu"):
    torch.manual_seed(0)
    enc = _encoder(attention, reversible, device)
    tokens = torch.randint(5, 64, (2, 128)).to(device)
    tokens[1, 100:] = 0
    results = []
    for enabled in (False, True):
        enc.zero_grad()
        with torch.autocast(device, dtype=dtype, enabled=enabled):
            h = enc(tokens)  # (2, 128, 64)
        (h.float() * torch.linspace(-1, 1, 64, device=device)).sum().backward()
        results.append((h.detach().float(), [p.grad.clone() for p in enc.parameters()]))
    (h32, g32), (hh, gh) = results
    out_tol, grad_tol = TOLERANCE[dtype]
    real = tokens != 0
    assert (h32 - hh)[real].abs().max() < out_tol
    for a, b in zip(g32, gh):
        assert torch.isfinite(b).all()
        if a.norm() > 0:
            assert (a - b).norm() / a.norm() < grad_tol


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("name", list(_attentions()))
@pytest.mark.gpu
@needs_cuda
def test_cuda_autocast_does_not_reach_the_scores(name, dtype):
    """As on CPU; CUDA's index_add backward sums in no fixed order, so equal to ~1 float32 ulp
    rather than bit for bit (half-precision scores would differ by ~1e-2)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    fn = _attentions("cuda")[name]
    qkv = _qkv(device="cuda")
    ref, ref_grads = _grads(fn, qkv)
    with torch.autocast("cuda", dtype=dtype):
        out, grads = _grads(fn, qkv)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("reversible", [True, False])
@pytest.mark.parametrize("attention", ["lsh", "sliding", "full"])
@pytest.mark.gpu
@needs_cuda
def test_cuda_encoder_under_autocast_matches_float32(attention, reversible, dtype):
    torch.backends.cuda.matmul.allow_tf32 = False
    test_encoder_under_autocast_matches_float32(attention, reversible, dtype, device="cuda")
