"""Transformer-XL segment memory: exact against one run with a block mask, detached, refused for LSH."""

import pytest
import torch
from torch import nn

from genolong.errors import GenolongError
from genolong.models import Encoder, EncoderConfig
from genolong.models.rotary import apply_rotary
from genolong.models.sliding_attention import SlidingAttention

SEG = 12


def tiny(**kw) -> EncoderConfig:
    base = dict(vocab_size=40, d_model=16, n_heads=2, n_layers=3, d_ff=32, attention_window=5,
                ff_chunks=1, dropout=0.0, reversible=False, memory=SEG)
    base.update(kw)
    return EncoderConfig(**base)


def make(cfg: EncoderConfig, seed: int = 0) -> Encoder:
    torch.manual_seed(seed)
    return Encoder(cfg).double().eval()


def stream(seed=0, n_segments=3, b=2, pad_last=(0, 5)):
    """(b, n_segments * SEG) tokens; row i ends in pad_last[i] padding positions."""
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(5, 40, (b, n_segments * SEG), generator=g)
    for i, n in enumerate(pad_last):
        if n:
            t[i, -n:] = 0
    return t


def dense_reference(enc: Encoder, tokens: torch.Tensor, memory: int) -> torch.Tensor:
    """The encoder's layers run once over the whole stream, by hand, with each layer's dense mask
    of allowed (query, key) pairs (`segment_mask`), key padding masked too. Independent of the
    memory code."""
    length = tokens.shape[1]
    pad = tokens == enc.cfg.pad_id  # (B, L)
    x = enc.embed(tokens)
    cos, sin = enc.rotary(length, x.device, x.dtype)
    x1 = x2 = x
    for block in enc.layers:
        attn = block.attn
        window = attn.window if isinstance(attn, SlidingAttention) else None
        ok = segment_mask(length, SEG, memory, window)[None] & ~pad[:, None, :]  # (B, L, L)
        bias = torch.zeros(ok.shape, dtype=x.dtype).masked_fill(~ok, -1e9)[:, None]  # (B, 1, L, L)
        b, _, dm = x2.shape
        q, k, v = attn.in_proj(block.attn_norm(x2)).view(b, length, 3, attn.n_heads, -1).permute(2, 0, 3, 1, 4)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        x1 = x1 + attn.out_proj(out.transpose(1, 2).reshape(b, length, dm))
        x2 = x2 + block.g(x1)
    return enc.norm((x1 + x2) * 0.5)


def segment_mask(length: int, seg: int, memory: int, window: int | None) -> torch.Tensor:
    """Query i (in segment s) sees keys j with start_s - memory <= j < end_s (and |i - j| <= window)."""
    i = torch.arange(length)[:, None]
    j = torch.arange(length)[None, :]
    start = (i // seg) * seg
    ok = (j >= start - memory) & (j < start + seg)
    if window is not None:
        ok &= (i - j).abs() <= window
    return ok


def run_segments(enc: Encoder, tokens: torch.Tensor, seg: int = SEG):
    memory, outs, mems = None, [], []
    for s in range(0, tokens.shape[1], seg):
        h, memory = enc(tokens[:, s:s + seg], memory=memory, return_memory=True)
        outs.append(h)
        mems.append(memory)
    return torch.cat(outs, dim=1), mems


@pytest.mark.parametrize("attention,window", [("full", 5), ("sliding", 5), ("sliding", 20),
                                              (("full", "sliding", "full"), 5)])
@pytest.mark.parametrize("memory", [SEG, SEG // 2, 2 * SEG])
def test_segments_equal_one_run_with_block_mask(attention, window, memory):
    """Segment s's queries see [memory ; segment s]; earlier segments' states are what they were
    in their own segment: exactly one run over the stream with a block mask, in float64."""
    enc = make(tiny(attention=attention, memory=memory, attention_window=window))
    t = stream()
    h, mems = run_segments(enc, t)
    ref = dense_reference(enc, t, memory)
    real = t != 0
    torch.testing.assert_close(h[real], ref[real], rtol=1e-10, atol=1e-10)
    for mem in mems:
        assert mem.length == min(memory, mem.position)
        assert all(s.shape[1] == mem.length and not s.requires_grad for s in mem.states)


@pytest.mark.parametrize("reversible", [False, True])
def test_memory_is_detached(reversible):
    """The segment-2 loss sends gradient into segment 2's embeddings, none into segment 1's."""
    enc = make(tiny(attention="full", reversible=reversible)).train()
    embedded = []

    def keep(_module, _inputs, out):
        out.retain_grad()
        embedded.append(out)

    enc.embed.register_forward_hook(keep)
    t = stream(n_segments=2)
    h1, mem = enc(t[:, :SEG], return_memory=True)
    h2, _ = enc(t[:, SEG:], memory=mem, return_memory=True)
    h2.sum().backward()
    assert embedded[0].grad is None
    assert embedded[1].grad is not None and embedded[1].grad.abs().sum() > 0
    # the memory did reach segment 2's forward: without it, its output differs
    assert not torch.allclose(enc(t[:, SEG:]), h2)


@pytest.mark.parametrize("attention", ["full", "sliding"])
def test_reversible_memory_holds_each_layers_attention_input(attention):
    """Reversible and irreversible stacks keep the same memory (each layer's x2, the stream its
    attention reads) and give the same segment-2 outputs and parameter gradients in training."""
    cfg = tiny(attention=attention, dropout=0.2, ff_chunks=2)
    plain = make(cfg).train()
    rev = Encoder(EncoderConfig(**{**cfg.__dict__, "reversible": True})).double().train()
    rev.load_state_dict(plain.state_dict())
    t = stream(n_segments=2)
    results = []
    for enc in (plain, rev):
        torch.manual_seed(5)
        _, mem = enc(t[:, :SEG], return_memory=True)
        h2, mem2 = enc(t[:, SEG:], memory=mem, return_memory=True)
        grads = torch.autograd.grad(h2.pow(2).sum(), list(enc.parameters()))
        results.append((mem, mem2, h2.detach(), grads))
    (m_a, m2_a, h_a, g_a), (m_b, m2_b, h_b, g_b) = results
    for a, b in zip(m_a.states + m2_a.states, m_b.states + m2_b.states):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(h_a, h_b, rtol=1e-10, atol=1e-12)
    for (name, _), a, b in zip(plain.named_parameters(), g_a, g_b):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10, msg=name)
    # layer 0 reads the embeddings: its memory is the segment's (dropped-out) embedding itself
    torch.manual_seed(5)
    embedded = plain.dropout(plain.embed(t[:, :SEG]))
    torch.testing.assert_close(m_a.states[0], embedded)


def test_memory_carries_rotary_positions_and_padding():
    enc = make(tiny(attention="full"))
    t = stream(n_segments=2, pad_last=(0, 0))
    _, mem = enc(t[:, :SEG], padding_mask=torch.zeros(2, SEG, dtype=torch.bool), return_memory=True)
    assert mem.position == SEG
    short = t[:, SEG:SEG + 5].clone()
    short[1, 3:] = 0
    _, mem2 = enc(short, memory=mem, return_memory=True)
    assert mem2.position == SEG + 5 and mem2.length == SEG
    assert mem2.padding_mask[1, -2:].all() and not mem2.padding_mask[0].any()


@pytest.mark.parametrize("bad", [dict(attention="lsh"), dict(attention=("full", "lsh", "full")),
                                 dict(attention="sliding", global_tokens=(0,)), dict(memory=-1)])
def test_refused_configs(bad):
    with pytest.raises(GenolongError, match="memory"):
        tiny(**bad)


def test_memory_off_refuses_memory_calls():
    enc = make(tiny(memory=0))
    with pytest.raises(GenolongError, match="memory is 0"):
        enc(stream(n_segments=1), return_memory=True)
