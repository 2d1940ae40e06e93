"""The structure head beside the function head: joint logits, joint strand swap, joint loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genolong.data.labels import LabelVocab
from genolong.data.structure import structure_vocab
from genolong.data.tokenizer import KmerTokenizer
from genolong.models.strand_average import both_strands, flip_index
from genolong.data.labels import joint_strand_swap
from genolong.training.module import GenoLongModule


def _module(**kwargs):
    tok = KmerTokenizer(3)
    labels = LabelVocab("biotype", "single", ["intergenic", "CDS(+)", "CDS(-)", "other"])
    config = dict(vocab_size=tok.vocab_size, d_model=16, n_heads=2, n_layers=1, d_ff=32, attention="full",
                  context_pool=5)
    return tok, GenoLongModule(task="annotate", encoder_config=config, tokenizer=tok.to_dict(),
                               labels=labels.to_dict(), structure_labels=structure_vocab().to_dict(), **kwargs)


def test_joint_swap_is_function_swap_then_offset_structure_swap():
    labels = LabelVocab("biotype", "single", ["intergenic", "CDS(+)", "CDS(-)", "other"]).to_dict()
    swap = joint_strand_swap(labels, structure_vocab().to_dict())
    assert list(swap[:4]) == [0, 2, 1, 3]
    assert list(swap[4:] - 4) == list(structure_vocab().strand_swap())
    go = LabelVocab("go", "multilabel", ["genic", "GO:1"]).to_dict()
    assert list(joint_strand_swap(go, structure_vocab().to_dict())[:2]) == [0, 1]  # unstranded: identity


def test_both_strand_logits_are_strand_symmetric_in_both_heads():
    torch.manual_seed(0)
    tok, module = _module(rc_average=True)
    module.eval()
    tokens = torch.randint(tok.n_special, tok.vocab_size, (2, 20))
    padding = torch.zeros(2, 20, dtype=torch.bool)
    padding[1, 15:] = True
    with torch.no_grad():
        forward = both_strands(module.net, tokens, padding, module.rc_map, module.class_swap)  # (B, L, 4 + 13)
        index = flip_index(padding)
        rc = module.rc_map[tokens.gather(1, index)]
        reverse = both_strands(module.net, rc, padding, module.rc_map, module.class_swap)
    assert forward.shape == (2, 20, 4 + 13)
    # reading the reverse complement gives the same calls, flipped, with strands swapped
    flipped = reverse.gather(1, index.unsqueeze(-1).expand_as(reverse))[..., module.class_swap]
    real = ~padding
    torch.testing.assert_close(forward[real], flipped[real], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("structure_class_weights", [None, [0.5 + 0.25 * i for i in range(13)]])
def test_chunked_joint_loss_equals_the_loss_on_full_logits(structure_class_weights):
    """Training takes the joint loss through each head's chunked output layer: same value and
    gradients as the loss on the full (function then structure) logits, with or without weights
    per structure class."""
    tok, module = _module(structure_weight=2.0, function_weight=0.5, structure_class_weights=structure_class_weights)
    weight = None if structure_class_weights is None else torch.tensor(structure_class_weights)
    module.train()
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(tok.n_special, tok.vocab_size, (2, 30), generator=g)
    pad = torch.zeros(2, 30, dtype=torch.bool)
    pad[1, 21:] = True
    targets = torch.randint(0, 4, (2, 30), generator=g).masked_fill(pad, -100)
    structure = torch.randint(0, 13, (2, 30), generator=g).masked_fill(pad, -100)
    results = []
    for chunked in (False, True):
        module.zero_grad()
        torch.manual_seed(5)
        if chunked:
            loss = module._chunked_loss(tokens, targets, pad, structure)
        else:
            logits = module(tokens, pad)
            loss = (0.5 * module._loss(logits[..., :4], targets, pad)
                    + 2.0 * torch.nn.functional.cross_entropy(logits[..., 4:].reshape(-1, 13), structure.reshape(-1),
                                                              weight=weight))
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}))
    (full, full_grads), (chunk, chunk_grads) = results
    torch.testing.assert_close(chunk, full, rtol=1e-6, atol=1e-7)
    assert chunk_grads.keys() == full_grads.keys() and any("structure_head" in n for n in full_grads)
    for name, grad in full_grads.items():
        torch.testing.assert_close(chunk_grads[name], grad, rtol=1e-5, atol=1e-6, msg=name)


def test_joint_loss_weights_and_unknown_function():
    torch.manual_seed(0)
    tok, module = _module(structure_weight=2.0, function_weight=0.5)
    module.eval()  # the full-logits path (training takes the chunked one, tested above)
    tokens = torch.randint(tok.n_special, tok.vocab_size, (2, 12))
    padding = torch.zeros(2, 12, dtype=torch.bool)
    batch = {"tokens": tokens, "padding_mask": padding,
             "targets": torch.randint(0, 4, (2, 12)), "structure": torch.randint(0, 13, (2, 12))}
    torch.manual_seed(1)
    loss, function, targets, structure, structure_targets = module._shared_step(batch)
    f = torch.nn.functional.cross_entropy(function.reshape(-1, 4), batch["targets"].reshape(-1))
    s = torch.nn.functional.cross_entropy(structure.reshape(-1, 13), batch["structure"].reshape(-1))
    torch.testing.assert_close(loss, 0.5 * f + 2.0 * s)
    # a window whose function is unknown everywhere trains the structure head alone
    batch["targets"] = torch.full((2, 12), -100)
    loss, *_ = module._shared_step(batch)
    assert torch.isfinite(loss)
    module.zero_grad()
    loss.backward()
    assert module.net.head.proj.weight.grad is None or not module.net.head.proj.weight.grad.any()
    assert module.net.structure_head.proj.weight.grad.abs().sum() > 0
