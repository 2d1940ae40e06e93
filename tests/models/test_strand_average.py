"""Both-strand averaging: the averaged logits of a window and of its reverse complement are
mirror images of each other, whatever the network."""

import numpy as np
import pytest
import torch

from genolong.errors import GenolongError
from genolong.models.net import build_net
from genolong.models.strand_average import both_strands, flip_index, rc_tables
from genolong.data.tokenizer import KmerTokenizer
from genolong.data.labels import LabelVocab


def test_flip_index_reverses_the_real_prefix_only():
    pad = torch.tensor([[False] * 5, [False, False, False, True, True]])
    assert flip_index(pad).tolist() == [[4, 3, 2, 1, 0], [2, 1, 0, 3, 4]]


def reverse_complement_rows(tokens: torch.Tensor, pad: torch.Tensor, rc_map: torch.Tensor) -> torch.Tensor:
    out = tokens.clone()
    for row in range(tokens.shape[0]):
        n = int((~pad[row]).sum())
        out[row, :n] = rc_map[tokens[row, :n].flip(0)]
    return out


@pytest.mark.parametrize("classes,multilabel", [
    (["intergenic", "CDS:+", "CDS:-", "tRNA:+", "tRNA:-"], False),
    (["genic", "GO:0000001", "GO:0000002"], True),
])
def test_averaged_logits_are_strand_equivariant(classes, multilabel):
    torch.manual_seed(0)
    tok = KmerTokenizer(3)
    net = build_net(dict(vocab_size=tok.vocab_size, d_model=16, n_heads=2, n_layers=2, d_ff=32, attention="full",
                         context_pool=5, head_hidden=8), "annotate", len(classes)).double().eval()
    rc_map, swap = rc_tables(tok, LabelVocab("t", "multilabel" if multilabel else "single", classes).strand_swap())
    assert (swap is None) == multilabel
    tokens = torch.randint(tok.n_special, tok.vocab_size, (2, 23))
    pad = torch.zeros(2, 23, dtype=torch.bool)
    pad[1, 17:] = True
    tokens[pad] = tok.pad_id
    with torch.no_grad():
        forward = both_strands(net, tokens, pad, rc_map, swap)  # (B, L, C)
        reverse = both_strands(net, reverse_complement_rows(tokens, pad, rc_map), pad, rc_map, swap)
        single = net(tokens, pad)
    for row in range(2):
        n = int((~pad[row]).sum())
        mirrored = reverse[row, :n].flip(0)
        if swap is not None:
            mirrored = mirrored[:, swap]
        torch.testing.assert_close(forward[row, :n], mirrored)
    # and the average is not the one-strand reading (the random network reads strands differently)
    assert not torch.allclose(forward[~pad], single[~pad])


def test_overlapping_tokens_are_refused():
    with pytest.raises(GenolongError, match="stride == k"):
        rc_tables(KmerTokenizer(3, 1), None)


def test_module_validates_on_both_strands():
    from genolong.data.labels import LabelVocab
    from genolong.training.module import GenoLongModule

    torch.manual_seed(0)
    tok = KmerTokenizer(3)
    labels = LabelVocab(scheme="go", kind="multilabel", classes=["genic", "GO:1", "GO:2"], descriptions={})
    config = dict(vocab_size=tok.vocab_size, d_model=16, n_heads=2, n_layers=1, d_ff=32, attention="full")
    module = GenoLongModule(task="annotate", encoder_config=config, tokenizer=tok.to_dict(),
                            labels=labels.to_dict(), rc_average=True).eval()
    batch = {"tokens": torch.randint(tok.n_special, tok.vocab_size, (2, 12)),
             "padding_mask": torch.zeros(2, 12, dtype=torch.bool),
             "targets": torch.zeros(2, 12, 3, dtype=torch.uint8)}
    with torch.no_grad():
        logits = module._shared_step(batch)[1]
        expected = both_strands(module.net, batch["tokens"], batch["padding_mask"], module.rc_map, module.class_swap)
    torch.testing.assert_close(logits, expected)
    assert module.hparams.rc_average is True
