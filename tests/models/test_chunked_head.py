"""`chunked_linear_loss`: the output layer and the loss a chunk of rows at a time, equal to the
unchunked loss and gradients, and never holding all rows' logits."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from genolong.models.heads import MaskedLMHead, TokenClassificationHead, chunked_linear_loss

N, D_IN, V = 301, 16, 50


def _up(z):
    """Half-precision logits to float32, as the training module does; float64 stays."""
    return z.to(torch.promote_types(z.dtype, torch.float32))


def _ce(weight=None):
    return lambda z, t: F.cross_entropy(_up(z), t, weight=weight, ignore_index=-100,
                                        reduction="sum")


def _bce(z, t):
    known = t != 255
    return (F.binary_cross_entropy_with_logits(_up(z), (t == 1).to(_up(z).dtype),
                                               reduction="none") * known).sum()


def _case(kind, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, D_IN, generator=g, dtype=dtype)
    linear = nn.Linear(D_IN, V).to(dtype)
    if kind == "bce":
        targets = torch.randint(0, 2, (N, V), generator=g).to(torch.uint8)
        targets[torch.rand(N, V, generator=g) < 0.2] = 255
        return x, linear, targets, _bce
    targets = torch.randint(0, V, (N,), generator=g)
    targets[::7] = -100
    weight = torch.rand(V, generator=g, dtype=dtype) + 0.5 if kind == "weighted" else None
    return x, linear, targets, _ce(weight)


def _loss_and_grads(loss_fn):
    def run(x, linear, targets, loss_sum):
        linear.zero_grad()
        x = x.detach().requires_grad_(True)
        loss = loss_fn(x, linear, targets, loss_sum)
        (3.0 * loss).backward()
        return loss.detach(), [x.grad, linear.weight.grad, linear.bias.grad]
    return run


@pytest.mark.parametrize("chunk", [1, 64, 100, N, 1000])
@pytest.mark.parametrize("kind", ["ce", "weighted", "bce"])
def test_chunked_equals_unchunked(kind, chunk):
    x, linear, targets, loss_sum = _case(kind)
    whole = _loss_and_grads(lambda x, lin, t, fn: fn(lin(x), t))(x, linear, targets, loss_sum)
    chunked = _loss_and_grads(lambda x, lin, t, fn: chunked_linear_loss(x, lin, t, fn, chunk))(
        x, linear, targets, loss_sum)
    torch.testing.assert_close(chunked[0], whole[0], rtol=1e-12, atol=1e-12)
    for a, b in zip(chunked[1], whole[1]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_without_gradients_only_the_loss():
    x, linear, targets, loss_sum = _case("ce", torch.float32)
    with torch.no_grad():
        loss = chunked_linear_loss(x, linear, targets, loss_sum, 64)
    torch.testing.assert_close(loss, loss_sum(linear(x), targets))
    assert not loss.requires_grad and linear.weight.grad is None


def test_under_bf16_autocast_matches_float32():
    x, linear, targets, loss_sum = _case("ce", torch.float32)
    run = _loss_and_grads(lambda x, lin, t, fn: chunked_linear_loss(x, lin, t, fn, 64))
    ref = run(x, linear, targets, loss_sum)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = run(x, linear, targets, loss_sum)
    assert half[0].dtype == torch.float32
    torch.testing.assert_close(half[0], ref[0], rtol=2e-2, atol=0)
    for a, b in zip(half[1], ref[1]):
        assert a.dtype == b.dtype == torch.float32
        assert (a - b).norm() / b.norm() < 2e-2


class LargestTensor(TorchDispatchMode):
    """The largest number of elements of any tensor an operator returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize("kind", ["ce", "bce"])
def test_never_holds_all_logits(kind):
    x, linear, targets, loss_sum = _case(kind, torch.float32)
    x.requires_grad_(True)
    with LargestTensor() as seen:
        chunked_linear_loss(x, linear, targets, loss_sum, 50).backward()
    # one chunk's logits (50 x V) and the (N, V) targets of the bce case, never N x V floats
    assert seen.largest <= max(50 * V, N * D_IN)
    with LargestTensor() as whole:
        loss_sum(linear(x), targets).backward()
    assert whole.largest >= N * V  # the probe does see the logits when they exist


@pytest.mark.parametrize("head", [MaskedLMHead(D_IN, V), TokenClassificationHead(D_IN, V, hidden=8)])
def test_heads_are_features_then_output(head):
    h = torch.randn(2, 9, D_IN)
    pad = torch.zeros(2, 9, dtype=torch.bool)
    pad[1, 6:] = True
    head.eval()
    torch.testing.assert_close(head(h, pad), head.output(head.features(h, pad)))
