"""Reversible = irreversible, chunked = unchunked, padding changes nothing, memory flat in depth."""

import copy

import pytest
import torch
from torch import nn

from genolong.models import Encoder, EncoderConfig, TokenClassificationHead

KINDS = ["lsh", "sliding", "full"]


def tiny(**kw) -> EncoderConfig:
    base = dict(vocab_size=40, d_model=16, n_heads=2, n_layers=2, d_ff=32, bucket_size=4,
                n_hashes=2, attention_window=4, global_tokens=(1,), ff_chunks=1, dropout=0.0)
    base.update(kw)
    return EncoderConfig(**base)


def tokens(b=2, length=23, seed=0, real=(23, 17)):
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(5, 40, (b, length), generator=g)
    for i, n in enumerate(real):
        t[i, n:] = 0
    return t


def loss_and_grads(enc, t, seed=0):
    torch.manual_seed(seed)
    h = enc(t)
    w = torch.linspace(-1, 1, h.numel(), dtype=h.dtype).view_as(h)
    loss = (h * w).sum()
    grads = torch.autograd.grad(loss, [p for p in enc.parameters()])
    return h.detach(), grads


def twin(cfg: EncoderConfig, **changes) -> tuple[Encoder, Encoder]:
    torch.manual_seed(0)
    a = Encoder(cfg).double()
    b = Encoder(EncoderConfig(**{**cfg.__dict__, **changes})).double()
    b.load_state_dict(a.state_dict())
    return a, b


def assert_same_grads(enc: Encoder, got, expected) -> None:
    for (name, _), a, b in zip(enc.named_parameters(), got, expected):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-10, msg=name)


@pytest.mark.parametrize("attention", KINDS + [("lsh", "sliding", "full")])
@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_reversible_matches_irreversible(attention, dropout):
    n_layers = 3 if isinstance(attention, tuple) else 2
    cfg = tiny(attention=attention, n_layers=n_layers, dropout=dropout, ff_chunks=3,
               reversible=True)
    rev, plain = twin(cfg, reversible=False)
    rev.train(), plain.train()
    t = tokens()
    h_rev, g_rev = loss_and_grads(rev, t, seed=7)
    h_plain, g_plain = loss_and_grads(plain, t, seed=7)
    torch.testing.assert_close(h_rev, h_plain, rtol=1e-6, atol=1e-10)
    assert_same_grads(rev, g_rev, g_plain)


def test_dropout_is_active_in_training():
    enc, _ = twin(tiny(dropout=0.3))
    t = tokens()
    torch.manual_seed(1)
    a = enc(t)
    b = enc(t)
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("attention", KINDS)
def test_backward_leaves_rng_where_forward_left_it(attention):
    cfg = tiny(attention=attention, dropout=0.2, reversible=True)
    rev, plain = twin(cfg, reversible=False)
    t = tokens()
    torch.manual_seed(3)
    h = rev(t)
    after_forward = torch.get_rng_state()
    h.sum().backward()
    assert torch.equal(torch.get_rng_state(), after_forward)
    # and the reversible stack draws exactly what the plain stack draws
    torch.manual_seed(3)
    plain(t).sum().backward()
    assert torch.equal(torch.get_rng_state(), after_forward)


def test_eval_forward_and_backward_leave_rng_untouched():
    for attention in KINDS:
        enc, _ = twin(tiny(attention=attention, dropout=0.2))
        enc.eval()
        torch.manual_seed(5)
        before = torch.get_rng_state()
        enc(tokens()).sum().backward()
        assert torch.equal(torch.get_rng_state(), before), attention


@pytest.mark.parametrize("reversible", [True, False])
def test_chunked_feed_forward_equals_unchunked(reversible):
    cfg = tiny(attention="full", reversible=reversible, ff_chunks=1)
    one, many = twin(cfg, ff_chunks=4)
    t = tokens()
    h1, g1 = loss_and_grads(one, t)
    h4, g4 = loss_and_grads(many, t)
    torch.testing.assert_close(h1, h4, rtol=1e-10, atol=1e-12)
    for a, b in zip(g1, g4):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_state_dict_moves_between_run_modes():
    cfg = tiny(attention=("lsh", "sliding"), reversible=True, ff_chunks=1)
    a, b = twin(cfg, reversible=False, ff_chunks=5)
    assert a.state_dict().keys() == b.state_dict().keys()
    a.eval(), b.eval()
    t = tokens()
    torch.testing.assert_close(a(t), b(t), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("attention", KINDS)
@pytest.mark.parametrize("reversible", [True, False])
def test_extra_padding_changes_no_real_output(attention, reversible):
    enc, _ = twin(tiny(attention=attention, reversible=reversible, n_hashes=3))
    enc.eval()  # fixed LSH rotations, no dropout
    t = tokens(length=23, real=(23, 17))
    longer = torch.cat([t, torch.zeros(2, 11, dtype=t.dtype)], dim=1)
    h = enc(t)
    h_long = enc(longer)
    torch.testing.assert_close(h_long[0, :23], h[0, :23], rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(h_long[1, :17], h[1, :17], rtol=1e-9, atol=1e-10)


def test_explicit_padding_mask_equals_pad_tokens():
    enc, _ = twin(tiny(attention="sliding"))
    enc.eval()
    t = tokens()
    torch.testing.assert_close(enc(t), enc(t, padding_mask=t == 0))


def test_lsh_inference_is_deterministic():
    enc, _ = twin(tiny(attention="lsh", n_hashes=2, bucket_size=4))
    enc.eval()
    t = tokens(length=40, real=(40, 40))
    torch.testing.assert_close(enc(t), enc(t), rtol=0, atol=0)


def saved_bytes(n_layers: int, reversible: bool) -> int:
    cfg = EncoderConfig(vocab_size=40, d_model=32, n_heads=2, n_layers=n_layers, d_ff=64,
                        attention="lsh", bucket_size=16, n_hashes=2, reversible=reversible)
    torch.manual_seed(0)
    enc = Encoder(cfg)
    t = torch.randint(5, 40, (1, 256))
    total = 0
    seen = set()

    def pack(x):
        nonlocal total
        key = (x.untyped_storage().data_ptr(), x.untyped_storage().nbytes())
        if key not in seen:
            seen.add(key)
            total += x.untyped_storage().nbytes()
        return x

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        loss = enc(t).sum()
    loss.backward()
    return total


def test_reversible_memory_does_not_grow_with_depth():
    shallow, deep = saved_bytes(2, True), saved_bytes(12, True)
    assert deep <= 1.3 * shallow, (shallow, deep)
    # the measurement is not vacuous: the plain stack grows with depth
    assert saved_bytes(12, False) > 3 * saved_bytes(2, False)


@pytest.mark.parametrize("attention", KINDS)
def test_overfits_one_batch(attention):
    torch.manual_seed(0)
    cfg = EncoderConfig(vocab_size=12, d_model=32, n_heads=2, n_layers=2, d_ff=64,
                        attention=attention, bucket_size=8, n_hashes=2, attention_window=8)
    enc = Encoder(cfg)
    head = TokenClassificationHead(32, 3)
    t = torch.randint(5, 12, (2, 48))
    target = torch.randint(0, 3, (2, 48))
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=1e-2)
    losses = []
    # LSH re-hashes every step, so its loss is noisy: the test asks that it falls below the
    # threshold at some step within the budget
    for _ in range(200):
        loss = nn.functional.cross_entropy(head(enc(t)).transpose(1, 2), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if losses[-1] < 0.1:
            break
    assert losses[-1] < 0.1, (losses[0], min(losses))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("attention", KINDS)
def test_half_precision_masks_stay_finite(dtype, attention):
    torch.manual_seed(0)
    enc = Encoder(tiny(attention=attention)).to(dtype)
    t = tokens()
    t[1, 3:] = 0  # a mostly padded row
    h = enc(t)
    assert h.dtype == dtype
    assert torch.isfinite(h).all()
    h.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters())


def test_copy_keeps_config_plain():
    enc = Encoder(tiny())
    assert copy.deepcopy(enc.cfg) == enc.cfg


def calls_in_reversible_run(cfg: EncoderConfig, calls: list, seed: int) -> int:
    """Runs `cfg` reversibly, then its plain twin, checks their gradients are equal, and returns
    how many `calls` the reversible run (forward + backward) made."""
    rev, plain = twin(cfg, reversible=False)
    t = tokens()
    _, g_rev = loss_and_grads(rev, t, seed=seed)
    n_reversible = len(calls)
    _, g_plain = loss_and_grads(plain, t, seed=seed)
    assert_same_grads(rev, g_rev, g_plain)
    return n_reversible


def test_reversible_lsh_hashes_once_per_layer(monkeypatch):
    """The recomputation in backward reuses the forward's sort (`LSHSort`): no second hashing,
    and the gradients are those of plain autograd."""
    import genolong.models.lsh_attention as lsh

    calls = []
    hash_chunks = lsh.hash_chunks
    monkeypatch.setattr(lsh, "hash_chunks", lambda *a: calls.append(1) or hash_chunks(*a))
    cfg = tiny(attention="lsh", n_layers=3, dropout=0.2, reversible=True)
    assert calls_in_reversible_run(cfg, calls, seed=5) == 3


def test_reversible_lsh_counts_duplicates_once_per_layer(monkeypatch):
    """The recomputation takes the forward's duplicate counts (kept in `LSHSort`, one byte per
    pair) instead of counting again, and the gradients are those of plain autograd."""
    import genolong.models.lsh_attention as lsh

    calls = []
    counts = lsh.duplicate_counts
    monkeypatch.setattr(lsh, "duplicate_counts", lambda *a: calls.append(1) or counts(*a))
    cfg = tiny(attention="lsh", n_layers=3, dropout=0.2, reversible=True)
    assert calls_in_reversible_run(cfg, calls, seed=7) == 3


def test_reversible_trims_the_heap_between_layers_of_long_inputs(monkeypatch):
    """Above TRIM_ABOVE_BYTES the stack returns free memory after every layer, forward and
    backward, in-place gradient updates included, with the same gradients."""
    import genolong.models.reversible as reversible

    calls, untuned = [], []
    monkeypatch.setattr(reversible, "TRIM_ABOVE_BYTES", 0)
    release = reversible.release_free_memory
    monkeypatch.setattr(reversible, "release_free_memory", lambda: calls.append(1) or release())
    # the allocator set-up goes off on the first long input (for the whole process: recorded
    # here, so that this test process keeps its set-up)
    monkeypatch.setattr(reversible, "untune_allocator", lambda: untuned.append(1))
    cfg = tiny(attention=("lsh", "sliding", "full"), n_layers=3, dropout=0.2, reversible=True)
    assert calls_in_reversible_run(cfg, calls, seed=9) == 6
    assert untuned == [1]
