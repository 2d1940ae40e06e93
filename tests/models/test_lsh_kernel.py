"""The fused LSH kernel (long sequences): exact gradients, the same result as the sorted path,
and slabs (of queries, of hashed positions) that change nothing but memory."""

import pytest
import torch

from genolong.models import lsh_attention, lsh_kernel
from genolong.models.lsh_attention import hash_chunks, lsh_attend, lsh_rotations

D = torch.float64


@pytest.fixture
def fused(monkeypatch):
    """Every length through the fused kernel."""
    monkeypatch.setattr(lsh_attention, "FUSED_ABOVE_BYTES", 0)


def _inputs(b=2, h=2, length=45, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    qk = torch.randn(b, h, length, d, dtype=D, generator=g, requires_grad=True)
    v = torch.randn(b, h, length, d, dtype=D, generator=g, requires_grad=True)
    pad = torch.zeros(b, length, dtype=torch.bool)
    pad[1, 31:] = True
    return qk, v, pad


@pytest.mark.parametrize("n_hashes", [1, 3])
@pytest.mark.parametrize("slab", [4, 10_000])
def test_lsh_gradients_are_exact(n_hashes, slab, monkeypatch, fused):
    monkeypatch.setattr(lsh_kernel, "SLAB_QUERIES", slab)
    qk, v, pad = _inputs(h=1, length=21, d=4)
    pad[1, 15:] = True
    rot = lsh_rotations(4, n_hashes, 6, "cpu", D, torch.Generator().manual_seed(1))
    assert torch.autograd.gradcheck(lambda qk, v: lsh_attend(qk, v, rot, pad, 4), (qk, v),
                                    fast_mode=True)


def test_slabs_change_nothing(monkeypatch, fused):
    qk, v, pad = _inputs(length=301, d=8)
    rot = lsh_rotations(8, 3, 20, "cpu", D, torch.Generator().manual_seed(2))
    results = []
    for slab, hash_slab in ((10_000, 10_000), (8, 7)):
        monkeypatch.setattr(lsh_kernel, "SLAB_QUERIES", slab)
        monkeypatch.setattr(lsh_attention, "HASH_SLAB", hash_slab)
        qk.grad = v.grad = None
        out = lsh_attend(qk, v, rot, pad, 8)
        (out * torch.linspace(-1, 1, 8, dtype=D)).sum().backward()
        results.append((out.detach(), qk.grad.clone(), v.grad.clone(),
                        hash_chunks(qk.detach(), rot, None, 8)))
    (*whole, h_whole), (*slabbed, h_slabbed) = results
    for a, b in zip(whole, slabbed):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    for a, b in zip(h_whole, h_slabbed):
        assert torch.equal(a, b)


@pytest.mark.parametrize("n_hashes", [1, 4])
def test_fused_equals_sorted_path(n_hashes, monkeypatch):
    qk, v, pad = _inputs(length=301, d=8, seed=3)
    rot = lsh_rotations(8, n_hashes, 20, "cpu", D, torch.Generator().manual_seed(4))
    results = []
    for threshold in (2 ** 62, 0):  # sorted, then fused
        monkeypatch.setattr(lsh_attention, "FUSED_ABOVE_BYTES", threshold)
        qk.grad = v.grad = None
        # padding's own outputs are unspecified (its keys are all masked): real positions only
        out = lsh_attend(qk, v, rot, pad, 8)[~pad[:, None].expand(-1, 2, -1)]  # (N, d)
        (out * torch.linspace(-1, 1, 8, dtype=D)).sum().backward()
        results.append((out.detach(), qk.grad.clone(), v.grad.clone()))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
