"""`genolong annotate --stream`: whole records as one stream per strand, carrying the segment memory."""

from __future__ import annotations

import numpy as np
import pytest

from genolong.annotate import Annotator
from genolong.cli import main
from genolong.data.tokenizer import KmerTokenizer

from .helpers import BIOTYPE, TINY_ENCODER, afade_first_contig, fasta_from, save_checkpoint

SEGMENT = 64


@pytest.fixture(scope="module")
def streamed(trained, tmp_path_factory):
    """A two-head checkpoint trained with a segment memory (2 segments of 64 tokens per sample)
    whose function head reads a 33-token context mean, so streamed heads must pool across segments."""
    from genolong.training.train import compose_config, train

    _, store = trained
    root = tmp_path_factory.mktemp("streamed")
    cfg = compose_config(
        [f"data.store_dir={store}", "model=longformer", "model.d_model=16", "model.n_heads=2", "model.n_layers=2",
         "model.d_ff=32", "model.dropout=0.0", "model.attention_window=16", f"model.memory={SEGMENT}",
         "model.context_pool=33", "task.structure_weight=1.0",
         f"data.window={SEGMENT}", "data.segments_per_sample=2", "data.batch_size=4", "data.batches_per_epoch=4",
         "trainer.max_steps=8", "+trainer.limit_val_batches=2", "trainer.enable_progress_bar=false",
         "optimizer.lr=3e-3"],
        output_dir=root / "run",
    )
    train(cfg)
    return root / "run" / "checkpoints" / "last.ckpt"


def _calls(result) -> list[tuple]:
    return [(s.seqid, s.start, s.end, s.strand, s.label, s.score) for s in result.segments]


def _annotate(ckpt, genome, **kw):
    return Annotator.from_checkpoint(ckpt, progress=False, device="cpu", **kw).annotate(genome)


def test_a_record_shorter_than_a_segment_streams_as_it_tiles(streamed, tmp_path, data_dir):
    genome = fasta_from({"short": afade_first_contig(data_dir, 6 * (SEGMENT - 9))}, tmp_path / "short.fa")
    tiled = _annotate(streamed, genome, window=SEGMENT, rc_average=True)
    stream = _annotate(streamed, genome, window=SEGMENT, stream=True)
    np.testing.assert_array_equal(stream.probs["short"], tiled.probs["short"])
    assert _calls(stream) == _calls(tiled)


def test_streaming_is_deterministic_and_independent_of_batch_size(streamed, tmp_path, data_dir):
    genome = fasta_from({"long": afade_first_contig(data_dir, 6 * 9 * SEGMENT + 17)}, tmp_path / "long.fa")
    first = _annotate(streamed, genome, window=SEGMENT, stream=True, batch_size=2)
    again = _annotate(streamed, genome, window=SEGMENT, stream=True, batch_size=2)
    np.testing.assert_array_equal(first.probs["long"], again.probs["long"])
    for batch_size in (1, 8):
        other = _annotate(streamed, genome, window=SEGMENT, stream=True, batch_size=batch_size)
        np.testing.assert_allclose(other.probs["long"], first.probs["long"], rtol=0, atol=1e-6)
        assert [c[:5] for c in _calls(other)] == [c[:5] for c in _calls(first)]
    # past the first segment the stream sees further than one tiled window does
    tiled = _annotate(streamed, genome, window=SEGMENT, overlap=0, rc_average=True)
    assert not np.allclose(first.probs["long"], tiled.probs["long"], atol=1e-4)


def test_stream_cli_and_a_checkpoint_without_memory(streamed, tmp_path, data_dir, capsys):
    genome = str(fasta_from({"c1": afade_first_contig(data_dir, 3000)}, tmp_path / "g.fa"))
    plain = save_checkpoint(TINY_ENCODER, BIOTYPE, KmerTokenizer(6), tmp_path / "plain.ckpt")
    assert main(["annotate", "--checkpoint", str(plain), "--genome", genome, "--out", str(tmp_path / "x"),
                 "--stream", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--stream" in err[0] and "model.memory" in err[0], err
    assert not list(tmp_path.glob("x.*"))
    assert main(["annotate", "--checkpoint", str(streamed), "--genome", genome, "--out", str(tmp_path / "s"),
                 "--stream", "--window", str(SEGMENT), "--no-progress", "--device", "cpu"]) == 0
    assert (tmp_path / "s.gff3").read_text().startswith("##gff-version 3\n##sequence-region c1 1 3000\n")


def _whole_record_reference(ckpt, tokens: np.ndarray) -> np.ndarray:
    """Both strands streamed segment by segment for the encoder, but each head run once over the
    whole record's local states: what the one-segment-late heads of the stream must equal."""
    import torch

    from genolong.data.labels import joint_strand_swap
    from genolong.models.encoder import context_mean
    from genolong.training.checkpoint import load_checkpoint

    loaded = load_checkpoint(ckpt, map_location="cpu")
    net = loaded.net.eval()
    swap = joint_strand_swap(loaded.labels, loaded.structure_labels)
    rc_map = np.asarray(loaded.tokenizer.rc_map)
    readings = []
    for stream in (tokens, rc_map[tokens[::-1]]):
        memory, local = None, []
        for start in range(0, len(stream), SEGMENT):
            t = torch.from_numpy(stream[start:start + SEGMENT]).long()[None]  # (1, L)
            with torch.inference_mode():
                h, memory = net.encoder(t, torch.zeros_like(t, dtype=torch.bool), memory=memory,
                                        return_memory=True, pool=False)
            local.append(h)
        h = torch.cat(local, dim=1)  # (1, n, d)
        pad = torch.zeros(h.shape[:2], dtype=torch.bool)
        with torch.inference_mode():
            out = torch.cat([net.head(context_mean(h, pad, 33), pad), net.structure_head(h, pad)], dim=-1)
        readings.append(out[0].numpy())
    return 0.5 * (readings[0] + readings[1][::-1][:, swap])


def test_streamed_heads_pool_across_segments_as_over_the_whole_record(streamed, tmp_path, data_dir):
    from genolong.training.checkpoint import load_checkpoint

    sequence = afade_first_contig(data_dir, 6 * 5 * SEGMENT + 40)
    genome = fasta_from({"long": sequence}, tmp_path / "long.fa")
    annotator = Annotator.from_checkpoint(streamed, progress=False, device="cpu", window=SEGMENT, stream=True)
    assert annotator.structure_labels is not None
    tokens = load_checkpoint(streamed, map_location="cpu").tokenizer.encode(sequence)
    streamed_logits = annotator.record_logits(np.asarray(tokens, dtype=np.int64))
    np.testing.assert_allclose(streamed_logits, _whole_record_reference(streamed, np.asarray(tokens)),
                               rtol=0, atol=1e-5)
    result = annotator.annotate(genome)
    assert result.gene_models and result.n_structure == len(annotator.structure_labels.classes)
