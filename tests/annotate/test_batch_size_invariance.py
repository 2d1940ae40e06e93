"""`genolong annotate` writes the same files whatever `--batch-size`.

Today every window of a record is full length (the last one flush with the record's end) and
batches never mix records, so no window is padded; this guards that behaviour and the batched
arithmetic. tests/models/test_batch_independence.py is the test that the model itself gives
a window the same result beside padded batch-mates."""

from __future__ import annotations

import numpy as np
import pytest

from genolong.annotate import Annotator
from genolong.annotate.probs import load_probs
from genolong.cli import main


@pytest.fixture(scope="module")
def lsh_checkpoint(tmp_path_factory, data_dir):
    """A tiny LSH + sliding-window model trained for two steps on the plasmid."""
    from genolong.training.train import compose_config, train

    root = tmp_path_factory.mktemp("lsh_ckpt")
    store = root / "store"
    assert main(["prepare", "--genome", str(data_dir / "NC_005816.gb"), "--labels", "biotype",
                 "--split", "contiguous:val=0.2;test=0.1;gap=100", "--out", str(store)]) == 0
    cfg = compose_config(
        [f"data.store_dir={store}", "model=reformer", "model.attention=[lsh,sliding]",
         "model.n_layers=2", "model.d_model=16", "model.n_heads=2", "model.d_ff=32",
         "model.bucket_size=16", "model.n_hashes=2", "model.attention_window=16",
         "data.window=128", "data.batch_size=2", "data.batches_per_epoch=2",
         "trainer.max_steps=2", "+trainer.limit_val_batches=1", "trainer.enable_progress_bar=false"],
        output_dir=root / "run",
    )
    train(cfg)
    return root / "run" / "checkpoints" / "last.ckpt"


def test_annotate_batch_size_1_and_8_write_identical_files(lsh_checkpoint, data_dir, tmp_path):
    genome = data_dir / "NC_005816.gb"
    prefixes = {}
    for batch_size in (1, 8):
        prefixes[batch_size] = tmp_path / f"b{batch_size}"
        # 1,601 tokens in windows of 300 (overlap 60): 7 windows, 1, 1 + 6 or 7 to a batch
        assert main(["annotate", "--checkpoint", str(lsh_checkpoint), "--genome", str(genome),
                     "--out", str(prefixes[batch_size]), "--window", "300", "--overlap", "60",
                     "--batch-size", str(batch_size), "--no-progress"]) == 0
    for suffix in (".gff3", ".bed", ".genes.tsv"):
        one, eight = (prefixes[b].with_suffix(suffix).read_text() for b in (1, 8))
        assert one == eight, suffix
    one, eight = (load_probs(prefixes[b].with_suffix(".probs.npz")) for b in (1, 8))
    assert one.seqids == eight.seqids
    for seqid in one.seqids:
        assert np.array_equal(one.probs[seqid], eight.probs[seqid]), seqid


def test_record_logits_do_not_depend_on_batch_size(lsh_checkpoint):
    """The float32 logits before the files round them to float16."""
    tokens = np.random.default_rng(0).integers(5, 4101, 1000)
    logits = [Annotator.from_checkpoint(lsh_checkpoint, window=300, overlap=60, batch_size=b,
                                        progress=False).record_logits(tokens) for b in (1, 3, 8)]
    for other in logits[1:]:
        np.testing.assert_allclose(other, logits[0], rtol=1e-5, atol=1e-6)
