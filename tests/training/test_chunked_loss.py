"""The training module's loss through the chunked head equals the loss on full logits, with the
same gradients, for every task and label kind."""

from __future__ import annotations

import pytest
import torch

from genolong.data.labels import UNKNOWN, LabelVocab
from genolong.data.tokenizer import KmerTokenizer
from genolong.data.labels import IGNORE_INDEX
from genolong.training.module import GenoLongModule

TOK = KmerTokenizer(3)


def _module(task, labels, **kw):
    torch.manual_seed(0)
    config = dict(vocab_size=TOK.vocab_size, d_model=16, n_heads=2, n_layers=2, d_ff=32,
                  attention=["lsh", "full"], bucket_size=8, n_hashes=2)
    config.update(kw.pop("model", {}))
    return GenoLongModule(task=task, encoder_config=config, tokenizer=TOK.to_dict(),
                          labels=labels.to_dict(), **kw).train()


def _case(kind):
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(TOK.n_special, TOK.vocab_size, (2, 40), generator=g)
    pad = torch.zeros(2, 40, dtype=torch.bool)
    pad[1, 29:] = True
    if kind == "multilabel":
        labels = LabelVocab(scheme="go", kind="multilabel", classes=["genic", "GO:1", "GO:2"],
                            descriptions={})
        targets = torch.randint(0, 2, (2, 40, 3), generator=g).to(torch.uint8)
        targets[torch.rand(2, 40, 3, generator=g) < 0.3] = UNKNOWN
        return _module("annotate", labels, model={"head_hidden": 8}), tokens, pad, targets
    labels = LabelVocab(scheme="biotype", kind="single", classes=["intergenic", "cds", "rna"],
                        descriptions={})
    if kind == "mlm":
        targets = torch.where(torch.rand(2, 40, generator=g) < 0.15, tokens, IGNORE_INDEX)
        return _module("mlm", labels), tokens, pad, targets
    targets = torch.randint(0, 3, (2, 40), generator=g).masked_fill(pad, IGNORE_INDEX)
    return _module("annotate", labels, class_weights=[0.2, 0.7, 0.4]), tokens, pad, targets


def _loss_and_grads(module, loss):
    module.zero_grad()
    torch.manual_seed(5)  # the same LSH rotations in both runs
    value = loss()
    value.backward()
    return value.detach(), {n: p.grad.clone() for n, p in module.named_parameters()
                            if p.grad is not None}


@pytest.mark.parametrize("kind", ["mlm", "weighted", "multilabel"])
def test_chunked_training_loss_equals_full_logits_loss(kind):
    module, tokens, pad, targets = _case(kind)
    full = _loss_and_grads(module, lambda: module._loss(module(tokens, pad), targets, pad))
    chunked = _loss_and_grads(module, lambda: module._chunked_loss(tokens, targets, pad))
    # float32, as the module computes its losses: equal up to summation order
    torch.testing.assert_close(chunked[0], full[0], rtol=1e-6, atol=1e-7)
    assert chunked[1].keys() == full[1].keys() and len(full[1]) > 10
    for name, grad in full[1].items():
        torch.testing.assert_close(chunked[1][name], grad, rtol=1e-5, atol=1e-7, msg=name)


def test_training_step_uses_the_chunked_loss():
    module, tokens, pad, targets = _case("weighted")
    batch = {"tokens": tokens, "padding_mask": pad, "targets": targets}
    torch.manual_seed(5)
    loss, logits = module._shared_step(batch)[:2]
    assert logits is None  # no (B, L, classes) logits were made
    torch.manual_seed(5)
    torch.testing.assert_close(loss, module._loss(module(tokens, pad), targets, pad))
