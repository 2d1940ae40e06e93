"""The network's batches on several threads (`genolong/parallel.py`) give the one-thread path's
probabilities bit for bit, both strands averaged, in window order."""

import numpy as np
import torch

from genolong.annotate import Annotator
from genolong.data.labels import LabelVocab
from genolong.data.structure import structure_vocab
from genolong.data.tokenizer import KmerTokenizer
from genolong.models.net import build_net

TINY_LSH = {"vocab_size": 69, "d_model": 16, "n_heads": 2, "n_layers": 1, "d_ff": 32, "attention": "lsh",
            "bucket_size": 16, "n_hashes": 2, "reversible": True, "context_pool": 33}


def test_record_probs_identical_on_one_and_three_threads():
    torch.manual_seed(0)
    tokenizer = KmerTokenizer(3)
    labels = LabelVocab("go", "multilabel", ["genic", "GO:0000001", "GO:0000002"])
    structure = structure_vocab()
    net = build_net(TINY_LSH, "annotate", labels.n_outputs, structure.n_outputs).eval()
    tokens = np.random.default_rng(0).integers(tokenizer.n_special, 69, 6_000).astype(tokenizer.dtype)
    out = {}
    before = torch.get_num_threads()
    for threads in (1, 3):
        ann = Annotator(net, tokenizer, labels, window=256, batch_size=2, progress=False, rc_average=True,
                        structure_labels=structure, transl_table=11, threads=threads)
        seen = []
        out[threads] = ann.record_probs(tokens, on_window=lambda chunk: seen.extend(chunk)).memmap().copy()
        assert [w.start for w in seen] == sorted(w.start for w in seen) and len(seen) > 20
    assert torch.get_num_threads() == before
    assert out[1].shape == (6_000, ann.n_columns)
    np.testing.assert_array_equal(out[1], out[3])
