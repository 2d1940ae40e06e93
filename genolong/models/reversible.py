"""Reversible residual stack (RevNet / Reformer) and its irreversible twin over the same blocks.

    y1 = x1 + f(x2)        x1 = y1 - f(x2)
    y2 = x2 + g(y1)        x2 = y2 - g(y1)

Forward keeps only the last pair of outputs; backward walks the layers in reverse, rebuilding
each layer's inputs from its outputs and recomputing f and g with autograd on. Randomness
(dropout, LSH rotations) is replayed exactly: forward records the RNG state before each f and
g, and backward replays it inside `torch.random.fork_rng`, so the caller's RNG state is the
same after backward as before it. Parameter gradients are returned through the autograd
function (the parameters are its inputs), never written into `.grad` behind autograd's back.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from genolong.models.context import AttentionContext
from genolong.models.feed_forward import seq_chunks
from genolong.models.process import release_free_memory, untune_allocator

# from this size of one layer's activation (64k tokens at d_model 256 in float32) on, the
# stack hands the allocator's free memory back to the system after every layer, and switches
# `tune_allocator`'s set-up off for good: a step is long enough there that re-faulting its
# memory costs little, and the heap's holes would otherwise stay counted in the peak
TRIM_ABOVE_BYTES = 2 ** 26


def _rng_state(device: torch.device):
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return cpu, cuda


def _replay(state, device: torch.device):
    """A context that runs with a recorded RNG state and restores the caller's afterwards."""
    devices = [device] if device.type == "cuda" else []
    fork = torch.random.fork_rng(devices=devices)

    class _Ctx:
        def __enter__(self):
            fork.__enter__()
            torch.set_rng_state(state[0])
            if state[1] is not None:
                torch.cuda.set_rng_state(state[1], device)

        def __exit__(self, *exc):
            return fork.__exit__(*exc)

    return _Ctx()


def _autocast(state):
    kind, dtype, enabled = state
    return torch.autocast(kind, dtype=dtype, enabled=enabled)


class _ReversibleStack(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x1, x2, blocks, actx, ff_chunks, memory, collect, *params):
        # LSH layers keep their hashing for the recomputation (`LSHSort`)
        actx = dataclasses.replace(actx, kept_sorts={})
        ctx.blocks, ctx.actx, ctx.ff_chunks = blocks, actx, ff_chunks
        ctx.memory = _per_layer(memory, blocks)
        ctx.params = params
        # backward runs outside the caller's autocast; recompute under the same one
        kind = x1.device.type
        ctx.autocast = (kind, torch.get_autocast_dtype(kind), torch.is_autocast_enabled(kind))
        ctx.states = []
        if x1.nbytes >= TRIM_ABOVE_BYTES:
            untune_allocator()
        for block, mem in zip(blocks, ctx.memory):
            if collect is not None:
                collect.append(x2)
            f_state = _rng_state(x1.device)
            x1 = x1 + block.f(x2, actx, mem)
            g_state = _rng_state(x1.device)
            x2 = x2 + block.g_chunked(x1, ff_chunks)
            ctx.states.append((f_state, g_state))
            if x1.nbytes >= TRIM_ABOVE_BYTES:
                release_free_memory()
        # held as detached references, not saved tensors: backward drops each after its first
        # use, where a saved tensor would stay alive (two activations) until backward returns
        ctx.outputs = [x1.detach(), x2.detach()]
        return x1, x2

    @staticmethod
    def backward(ctx, dy1, dy2):
        if ctx.outputs is None:
            raise RuntimeError("a reversible stack's backward runs once (retain_graph is not supported)")
        y1, y2 = ctx.outputs
        ctx.outputs = None
        device = y1.device
        grads: dict[nn.Parameter, torch.Tensor] = {}

        def add(ps, gs):
            for p, g in zip(ps, gs):
                if g is not None:
                    grads[p] = grads[p] + g if p in grads else g

        # the incoming gradients and the outputs belong to the caller: the first layer copies
        # them, later ones update their own copies in place. One exception: when dy1 and dy2
        # are one tensor (the encoder's (x1 + x2) hands its gradient to both), it has no other
        # reader, and autograd holds it until this function returns, so dy2 is updated in it
        owned = False
        dy2_owned = dy1 is dy2
        for block, mem, (f_state, g_state) in zip(reversed(ctx.blocks), reversed(ctx.memory),
                                                  reversed(ctx.states)):
            g_params = [p for p in list(block.ff_norm.parameters()) + list(block.ff.parameters())
                        if p.requires_grad]
            f_params = [p for p in list(block.attn_norm.parameters())
                        + list(block.attn.parameters()) if p.requires_grad]
            # g is position-wise: rebuild x2 and back-propagate chunk by chunk, in forward
            # order, so dropout replays the same random stream
            # x2 is rebuilt over y2 once y2 is this function's own copy
            x2 = y2 if owned else torch.empty_like(y2)
            dy1_total = dy1 if owned else dy1.clone()
            with _replay(g_state, device), _autocast(ctx.autocast):
                for s in seq_chunks(y1.shape[1], ctx.ff_chunks):
                    with torch.enable_grad():
                        y1c = y1[:, s].detach().requires_grad_(True)
                        gc = block.g(y1c)
                        res = torch.autograd.grad(gc, [y1c] + g_params, dy2[:, s],
                                                  allow_unused=True)
                    dy1_total[:, s] += res[0]
                    add(g_params, res[1:])
                    torch.sub(y2[:, s], gc.detach(), out=x2[:, s])
            del y2
            with _replay(f_state, device), _autocast(ctx.autocast), torch.enable_grad():
                x2r = x2.detach().requires_grad_(True)
                fx = block.f(x2r, ctx.actx, mem)
                # x1 = y1 - f(x2), written over f's output before its backward (no op of f
                # saves its own output; autograd's version check would fail loudly if one did):
                # one activation fewer is alive while f's backward runs. Under autocast f's
                # output may be half precision, and x1 must not be
                if fx.dtype == y1.dtype:
                    x1 = fx.detach().neg_().add_(y1)
                else:
                    x1 = y1.sub_(fx.detach()) if owned else y1 - fx.detach()
                del y1
                res = torch.autograd.grad(fx, [x2r] + f_params, dy1_total, allow_unused=True)
            add(f_params, res[1:])
            y1, y2 = x1, x2
            dy2 = dy2.add_(res[0]) if owned or dy2_owned else dy2 + res[0]
            dy1 = dy1_total
            owned = True
            del fx, x1, x2, res
            if y1.nbytes >= TRIM_ABOVE_BYTES:
                release_free_memory()
        params = ctx.params
        return (dy1, dy2, None, None, None, None, None,
                *[grads.get(p, torch.zeros_like(p)) if p.requires_grad else None
                  for p in params])


def _per_layer(memory, blocks) -> list:
    return [None] * len(blocks) if memory is None else list(memory)


def reversible_forward(blocks: nn.ModuleList, x1: torch.Tensor, x2: torch.Tensor,
                       actx: AttentionContext, ff_chunks: int, memory=None, collect=None):
    """Run `blocks` reversibly: activation memory does not grow with depth.

    memory: one (batch, m, d_model) state per layer that its attention also reads as keys
    (`genolong.models.memory`), held as a constant; collect: a list that receives each layer's
    attention input x2, for the next segment's memory."""
    params = list(blocks.parameters())
    return _ReversibleStack.apply(x1, x2, list(blocks), actx, ff_chunks, memory, collect, *params)


def irreversible_forward(blocks: nn.ModuleList, x1: torch.Tensor, x2: torch.Tensor,
                         actx: AttentionContext, ff_chunks: int, memory=None, collect=None):
    """The same arithmetic with ordinary autograd: the reference for tests, and the path used
    when no gradient is needed."""
    for block, mem in zip(blocks, _per_layer(memory, blocks)):
        if collect is not None:
            collect.append(x2)
        x1 = x1 + block.f(x2, actx, mem)
        x2 = x2 + block.g_chunked(x1, ff_chunks)
    return x1, x2
