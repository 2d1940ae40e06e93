"""Windows, stitching and decoding on real sequence with small real networks."""

from __future__ import annotations

import numpy as np
import pytest

from genolong.annotate import Annotator
from genolong.annotate.decode import decode_record, viterbi
from genolong.annotate.tiling import Stitcher, Window, plan_windows, window_weights
from genolong.data.tokenizer import KmerTokenizer

from .helpers import BIOTYPE, LocalNet, afade_first_contig, fasta_from


@pytest.mark.parametrize("n,window,overlap", [(1, 8, 2), (8, 8, 2), (9, 8, 2), (100, 16, 4), (1000, 64, 0), (517, 50, 49)])
def test_windows_cover_every_token(n, window, overlap):
    windows = plan_windows(n, window, overlap)
    covered = np.zeros(n, dtype=int)
    for w in windows:
        assert 0 <= w.start < w.end <= n and w.end - w.start <= window
        covered[w.start : w.end] += 1
    assert covered.min() >= 1
    assert windows[-1].end == n
    for a, b in zip(windows, windows[1:]):
        assert b.start - a.start <= window - overlap


def test_centre_weights_ramp_only_inside_the_record():
    w = window_weights(10, 4, "centre", at_start=False, at_end=False)
    assert w[0] < w[2] < w[4] == 1.0 and w[-1] < w[-3] and w.min() > 0
    edge = window_weights(10, 4, "centre", at_start=True, at_end=False)
    assert edge[0] == 1.0  # nothing else covers the record's first tokens: no reason to down-weight
    with pytest.raises(ValueError):
        plan_windows(10, 4, 4)


def test_stitcher_of_equal_logits_is_exact():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(300, 3)).astype(np.float32)
    for mode in ("average", "centre"):
        st = Stitcher(300, 3, overlap=20, mode=mode)
        for w in plan_windows(300, 64, 20):
            st.add(w, truth[w.start : w.end])
        np.testing.assert_allclose(st.logits(), truth, rtol=1e-5, atol=1e-5)
    st = Stitcher(10, 3, overlap=2)
    st.add(Window(0, 5), truth[:5])
    with pytest.raises(ValueError):
        st.logits()  # tokens 5..9 never covered


def _annotator(net, window, overlap, stitch="centre", batch_size=4):
    return Annotator(net, KmerTokenizer(6), BIOTYPE, window=window, overlap=overlap, batch_size=batch_size,
                     device="cpu", stitch=stitch, progress=False)


def test_two_window_sizes_agree_away_from_window_edges(tmp_path, data_dir):
    seq = afade_first_contig(data_dir, 60_000)
    fasta = fasta_from({"contig1": seq}, tmp_path / "a.fa")
    net = LocalNet(4101, 4, radius=2)
    whole = _annotator(net, window=20_000, overlap=0).annotate(fasta).probs["contig1"]
    small = _annotator(net, window=128, overlap=32).annotate(fasta).probs["contig1"]
    other = _annotator(net, window=300, overlap=60, stitch="average").annotate(fasta).probs["contig1"]
    assert whole.shape == small.shape == other.shape == (10_000, 4)
    for probs in (small, other):
        diff = np.abs(probs - whole).max(axis=1)
        # a token is exact unless it sits within the conv radius of a window edge in some window
        assert np.mean(diff < 1e-5) > 0.9
        assert diff.mean() < 0.01
        assert np.mean(probs.argmax(1) == whole.argmax(1)) > 0.98


def test_long_record_runs_in_bounded_windows(tmp_path, data_dir):
    seq = afade_first_contig(data_dir, 120_000)
    fasta = fasta_from({"long": seq, "tiny": b"ACGTAC", "empty_ish": b"ACG"}, tmp_path / "long.fa")
    net = LocalNet(4101, 4)
    ann = _annotator(net, window=256, overlap=64, batch_size=3)
    result = ann.annotate(fasta)
    n = 120_000 // 6
    assert result.probs["long"].shape == (n, 4)
    assert result.probs["tiny"].shape == (1, 4) and result.probs["empty_ish"].shape == (0, 4)
    assert len(plan_windows(n, 256, 64)) > 10
    assert max(b for b, _ in net.calls) <= 3 and max(length for _, length in net.calls) <= 256
    np.testing.assert_allclose(result.probs["long"].sum(axis=1), 1.0, atol=1e-5)
    assert result.seconds > 0 and result.mbp_per_s > 0


def test_viterbi_removes_flicker_and_keeps_strong_runs():
    p = np.full((200, 2), 0.1)
    p[:, 0] = 0.9
    p[50:150] = [0.2, 0.8]
    p[100] = [0.7, 0.3]  # one-token dip inside a gene
    p[20] = [0.3, 0.7]  # one-token blip in intergenic sequence
    path = viterbi(np.log(p), 0.005)
    assert path[:50].sum() == 0 and path[50:150].all() and path[150:].sum() == 0
    assert (np.log(p).argmax(1) != path).sum() == 2


def test_decode_segments_strand_min_length_and_bp_edges():
    classes = ["intergenic", "protein_coding:+", "protein_coding:-", "tRNA:+"]
    p = np.zeros((100, 4)) + 0.01
    p[:, 0] = 0.97
    p[10:40] = [0.05, 0.9, 0.03, 0.02]
    p[60:64] = [0.05, 0.02, 0.03, 0.9]  # 4 tokens = 27 bp: dropped by min_length 60
    p[70:90] = [0.05, 0.03, 0.9, 0.02]
    segs = decode_record("c", p, classes, "single", 6, 6, 600, p_switch=0.05, min_length=60)
    assert [(s.start, s.end, s.strand, s.label) for s in segs] == [
        (60, 240, "+", "protein_coding"), (420, 540, "-", "protein_coding")]
    assert segs[0].score == pytest.approx(0.9)


def test_decode_multilabel_genic_then_terms():
    classes = ["genic", "GO:1", "GO:2"]
    p = np.zeros((50, 3)) + 0.05
    p[10:40, 0] = 0.9
    p[10:40, 2] = 0.8
    segs = decode_record("c", p, classes, "multilabel", 6, 6, 300, min_length=30)
    assert len(segs) == 1 and segs[0].label == "GO:2" and segs[0].strand == "."
    assert (segs[0].start, segs[0].end) == (60, 240)


def test_soft_masking_and_n_runs_read_as_in_training(tmp_path, data_dir):
    seq = afade_first_contig(data_dir, 12_000)
    masked = seq[:3000] + seq[3000:6000].lower() + b"N" * 600 + seq[6600:9000] + b"RYKM" * 10 + seq[9040:]
    upper = seq[:3000] + seq[3000:6000] + b"N" * 600 + seq[6600:9000] + b"RYKM" * 10 + seq[9040:]
    fasta = fasta_from({"masked": masked, "upper": upper}, tmp_path / "m.fa")
    net = LocalNet(4101, 4)
    result = _annotator(net, window=200, overlap=50).annotate(fasta)
    np.testing.assert_allclose(result.probs["masked"], result.probs["upper"], atol=1e-6)
    tokens = KmerTokenizer(6).encode(masked)
    assert np.all(tokens[1000:1100] == KmerTokenizer.unk_id)  # the N run, as `prepare` tokenizes it
