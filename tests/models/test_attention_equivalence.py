"""Each efficient attention equals dense softmax attention under the equivalent mask (float64)."""

import pytest
import torch
from torch import nn

from genolong.models.band_attention import band_attention
from genolong.models.chunk_attention import chunk_attention
from genolong.models.lsh_attention import hash_chunks, lsh_attend, lsh_rotations, permute_rows
from genolong.models.masking import PAD_VALUE, SELF_VALUE
from genolong.models.sliding_attention import sliding_attend

D = torch.float64


def dense(q, k, v, allowed, self_value=None):
    """softmax(q kᵀ/√d) v over allowed (batch, L, L) keys, with the same additive mask values."""
    scores = q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5
    bias = torch.zeros(allowed.shape, dtype=q.dtype).masked_fill(~allowed, PAD_VALUE)
    if self_value is not None:
        eye = torch.eye(q.shape[-2], dtype=torch.bool)
        bias = bias.masked_fill(eye & allowed, self_value)
    return torch.softmax(scores + bias[:, None], -1) @ v


def shared_qk(b=2, h=2, length=37, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, h, length, d, dtype=D, generator=g),
            torch.randn(b, h, length, d, dtype=D, generator=g))


def padding(b, length, real):
    pad = torch.zeros(b, length, dtype=torch.bool)
    for i, n in enumerate(real):
        pad[i, n:] = True
    return pad


def test_chunk_attention_gradients_including_lse():
    g = torch.Generator().manual_seed(1)
    q = torch.randn(2, 2, 3, 4, dtype=D, generator=g, requires_grad=True)
    k = torch.randn(2, 2, 5, 4, dtype=D, generator=g, requires_grad=True)
    v = torch.randn(2, 2, 5, 4, dtype=D, generator=g, requires_grad=True)
    bias = torch.zeros(1, 2, 3, 5, dtype=D).masked_fill_(torch.rand(1, 2, 3, 5, generator=g) < 0.3,
                                                          PAD_VALUE)

    def fn(q, k, v):
        out, lse = chunk_attention(q, k, v, bias, 0.5)
        return out, lse

    assert torch.autograd.gradcheck(fn, (q, k, v))


@pytest.mark.parametrize("bias_blocks", [1, 4])
def test_band_attention_gradients_including_lse(bias_blocks):
    g = torch.Generator().manual_seed(2)
    q = torch.randn(4, 2, 2, 3, dtype=D, generator=g, requires_grad=True)
    k = torch.randn(4, 4, 2, 3, dtype=D, generator=g, requires_grad=True)
    v = torch.randn(4, 4, 2, 3, dtype=D, generator=g, requires_grad=True)
    bias = torch.zeros(bias_blocks, 2, 2, 6, dtype=D)
    bias.masked_fill_(torch.rand(bias.shape, generator=g) < 0.3, PAD_VALUE)
    assert torch.autograd.gradcheck(lambda q, k, v: band_attention(q, k, v, bias, 0.7), (q, k, v))
    # kept probabilities instead of a recomputation in backward: the same gradients
    assert torch.autograd.gradcheck(
        lambda q, k, v: band_attention(q, k, v, bias, 0.7, keep_probs=True), (q, k, v))


def test_band_attention_equals_dense_on_windows():
    g = torch.Generator().manual_seed(3)
    q = torch.randn(2, 3, 4, 8, dtype=D, generator=g)
    k = torch.randn(2, 5, 4, 8, dtype=D, generator=g)
    v = torch.randn(2, 5, 4, 8, dtype=D, generator=g)
    bias = torch.randn(2, 3, 4, 12, dtype=D, generator=g)
    out, lse = band_attention(q, k, v, bias, 0.5)
    for n in range(3):
        kw, vw = k[:, n:n + 3].reshape(2, 12, 8), v[:, n:n + 3].reshape(2, 12, 8)
        s = q[:, n] @ kw.transpose(1, 2) * 0.5 + bias[:, n]
        torch.testing.assert_close(out[:, n], torch.softmax(s, -1) @ vw)
        torch.testing.assert_close(lse[:, n], torch.logsumexp(s, -1))


@pytest.mark.parametrize("n_hashes", [1, 3])
def test_lsh_with_one_chunk_equals_dense_shared_qk(n_hashes):
    qk, v = shared_qk()
    pad = padding(2, 37, [37, 29])
    rot = lsh_rotations(8, n_hashes, 2, "cpu", D, torch.Generator().manual_seed(3))
    out = lsh_attend(qk, v, rot, pad, bucket_size=64)
    allowed = (~pad)[:, None, :].expand(2, 37, 37)
    ref = dense(qk, nn.functional.normalize(qk, dim=-1), v, allowed, SELF_VALUE)
    real = ~pad
    torch.testing.assert_close(out.transpose(1, 2)[real], ref.transpose(1, 2)[real],
                               rtol=1e-10, atol=1e-10)


def test_lsh_equals_dense_over_the_union_of_rounds():
    """Several chunks and rounds: each key a query meets in any round is counted exactly once."""
    qk, v = shared_qk(length=83, seed=5)
    pad = padding(2, 83, [83, 70])
    bucket = 8
    rot = lsh_rotations(8, 3, 10, "cpu", D, torch.Generator().manual_seed(4))
    out = lsh_attend(qk, v, rot, pad, bucket_size=bucket)

    lp = 88
    qk_p = nn.functional.pad(qk, (0, 0, 0, lp - 83))
    pad_p = nn.functional.pad(pad, (0, lp - 83), value=True)
    _, chunk_of = hash_chunks(qk_p, rot, pad_p, bucket)  # (b, h, rounds, Lp)
    chunk_of = chunk_of[..., :83]
    met = ((chunk_of[..., :, None] - chunk_of[..., None, :]).abs() <= 1).any(2)  # (b, h, L, L)
    met &= (~pad)[:, None, None, :]
    assert not met.all(), "the test needs queries that do not see every key"
    k = nn.functional.normalize(qk, dim=-1)
    scores = qk @ k.transpose(-1, -2) * 8 ** -0.5
    bias = torch.zeros(met.shape, dtype=D).masked_fill(~met, PAD_VALUE)
    bias = bias.masked_fill(torch.eye(83, dtype=torch.bool) & met, SELF_VALUE)
    ref = torch.softmax(scores + bias, -1) @ v
    real = ~pad
    torch.testing.assert_close(out.transpose(1, 2)[real], ref.transpose(1, 2)[real],
                               rtol=1e-9, atol=1e-9)


def test_more_hashes_bring_lsh_closer_to_dense():
    errors = {1: [], 8: []}
    for seed in range(8):
        g = torch.Generator().manual_seed(100 + seed)
        # clustered keys, as LSH assumes: attention is peaked on a few similar tokens
        centres = torch.randn(1, 1, 16, 16, dtype=D, generator=g) * 3
        assign = torch.randint(0, 16, (128,), generator=g)
        qk = centres[:, :, assign] + 0.3 * torch.randn(1, 1, 128, 16, dtype=D, generator=g)
        v = torch.randn(1, 1, 128, 16, dtype=D, generator=g)
        allowed = torch.ones(1, 128, 128, dtype=torch.bool)
        ref = dense(qk, nn.functional.normalize(qk, dim=-1), v, allowed, SELF_VALUE)
        for n in errors:
            rot = lsh_rotations(16, n, 8, "cpu", D, g)
            out = lsh_attend(qk, v, rot, None, bucket_size=16)
            errors[n].append(float((out - ref).norm() / ref.norm()))
    better = sum(e8 < e1 for e1, e8 in zip(errors[1], errors[8]))
    assert better >= 7, errors
    assert sum(errors[8]) < 0.7 * sum(errors[1]), errors


def band(length, window, glob=None):
    i = torch.arange(length)
    allowed = (i[:, None] - i[None, :]).abs() <= window
    if glob is not None:
        allowed = allowed | glob[:, :, None] | glob[:, None, :]
    return allowed


@pytest.mark.parametrize("with_global", [False, True])
@pytest.mark.parametrize("length,window", [(37, 8), (40, 8), (5, 8), (50, 3)])
def test_sliding_equals_dense_band(with_global, length, window):
    g = torch.Generator().manual_seed(length + window)
    q, k, v = (torch.randn(2, 2, length, 8, dtype=D, generator=g) for _ in range(3))
    pad = padding(2, length, [length, max(1, length - 6)])
    glob = None
    if with_global:
        glob = torch.zeros(2, length, dtype=torch.bool)
        glob[0, [0, length // 2]] = True
        glob[1, [length - 1]] = True
        glob &= ~pad
    out = sliding_attend(q, k, v, window, pad, glob)
    allowed = band(length, window, glob).expand(2, length, length) & (~pad)[:, None, :]
    ref = dense(q, k, v, allowed)
    real = ~pad
    torch.testing.assert_close(out.transpose(1, 2)[real], ref.transpose(1, 2)[real],
                               rtol=1e-10, atol=1e-10)


def test_sliding_gradients_match_dense():
    g = torch.Generator().manual_seed(9)
    length, window = 29, 4
    q, k, v = (torch.randn(1, 2, length, 8, dtype=D, generator=g, requires_grad=True)
               for _ in range(3))
    glob = torch.zeros(1, length, dtype=torch.bool)
    glob[0, 3] = True
    w = torch.randn(1, 2, length, 8, dtype=D, generator=g)
    grads = []
    for fn in (lambda: sliding_attend(q, k, v, window, None, glob),
               lambda: dense(q, k, v, band(length, window, glob))):
        grads.append(torch.autograd.grad((fn() * w).sum(), (q, k, v)))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("margin", [0, 2])
def test_permute_rows_is_index_select_with_a_gather_backward(margin):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 6, 3, dtype=D, generator=g, requires_grad=True)
    index = torch.stack([torch.stack([torch.randperm(6, generator=g) for _ in range(3)])
                         for _ in range(2)])  # (2, 3, 6)
    inverse = index.argsort(-1)
    out = permute_rows(x, index, inverse, margin)
    ref = torch.stack([x[b].index_select(0, index[b].reshape(-1)) for b in range(2)])
    torch.testing.assert_close(out[:, margin:margin + 18], ref)
    assert not out[:, :margin].any() and not out[:, margin + 18:].any()
    assert torch.autograd.gradcheck(lambda x: permute_rows(x, index, inverse, margin), (x,))
