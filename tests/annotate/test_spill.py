"""Streaming stitcher and on-disk probabilities give what the in-memory versions give."""

from __future__ import annotations

import numpy as np
import pytest

from genolong.annotate.probs import TokenProbs, load_probs, save_probs
from genolong.annotate.spill import SpillArray
from genolong.annotate.tiling import Stitcher, StreamingStitcher, batches, plan_windows


@pytest.mark.parametrize("n,window,overlap,mode", [(1000, 64, 16, "centre"), (1000, 64, 0, "average"),
                                                     (50, 64, 16, "centre"), (257, 100, 99, "centre")])
def test_streaming_stitcher_equals_stitcher(n, window, overlap, mode):
    rng = np.random.default_rng(n + window)
    windows = plan_windows(n, window, overlap)
    logits = [rng.normal(size=(w.end - w.start, 5)).astype(np.float32) for w in windows]
    whole = Stitcher(n, 5, overlap, mode)
    rows, firsts = [], []
    stream = StreamingStitcher(n, 5, window, overlap, lambda first, x: (firsts.append(first), rows.append(x.copy())), mode)
    for chunk in batches(list(zip(windows, logits)), 3):
        for w, x in chunk:
            whole.add(w, x)
            stream.add(w, x)
    stream.finish()
    np.testing.assert_allclose(np.concatenate(rows), whole.logits(), rtol=1e-6, atol=1e-6)
    assert firsts == sorted(firsts) and firsts[0] == 0


def test_streaming_stitcher_refuses_out_of_order_windows():
    windows = plan_windows(300, 64, 16)
    stream = StreamingStitcher(300, 2, 64, 16, lambda first, x: None)
    with pytest.raises(ValueError, match="token 0 was not covered"):
        stream.add(windows[1], np.zeros((64, 2), np.float32))  # would finish tokens no window covered
    stream = StreamingStitcher(300, 2, 64, 16, lambda first, x: None)
    stream.add(windows[0], np.zeros((64, 2), np.float32))
    stream.add(windows[1], np.zeros((64, 2), np.float32))
    with pytest.raises(ValueError, match="arrived after"):
        stream.add(windows[0], np.zeros((64, 2), np.float32))


def test_spill_array_slices_and_round_trip(tmp_path):
    data = np.random.default_rng(0).random((1000, 4)).astype(np.float32)
    spill = SpillArray(4)
    for a in range(0, 1000, 300):
        spill.append(data[a : a + 300])
    assert spill.shape == (1000, 4)
    np.testing.assert_array_equal(spill[10:20], data[10:20])
    np.testing.assert_array_equal(spill[[5, 900, 7]], data[[5, 900, 7]])
    np.testing.assert_array_equal(spill[3:9, 1:3], data[3:9, 1:3])
    np.testing.assert_array_equal(spill.columns(slice(2, None))[100:110], data[100:110, 2:])
    np.testing.assert_array_equal(np.asarray(spill.memmap()), data)
    labels = {"scheme": "biotype", "kind": "single", "classes": ["a", "b"], "descriptions": {}}
    structure = {"scheme": "structure", "kind": "single", "classes": ["c", "d"], "descriptions": {}}
    tp = TokenProbs(["r"], {"r": 6000}, {"r": spill.columns(slice(0, 2))}, labels, {"k": 6, "stride": 6},
                    {"r": spill.columns(slice(2, None))}, structure, 4)
    save_probs(tmp_path / "p.npz", tp)
    back = load_probs(tmp_path / "p.npz")
    assert back.transl_table == 4 and back.structure_labels == structure
    np.testing.assert_allclose(back.probs["r"], data[:, :2], atol=1e-3)
    np.testing.assert_allclose(back.structure["r"], data[:, 2:], atol=1e-3)


def test_records_share_one_file_and_map_lazily():
    from genolong.annotate.spill import LazyRecords, SpillFile

    shared = SpillFile()
    a, b = shared.array(3), shared.array(3)
    rows_a = np.arange(12, dtype=np.float32).reshape(4, 3)
    a.append(rows_a)
    with pytest.raises(ValueError, match="another array"):
        b.append(rows_a)  # b starts where a started: a was not finished first
    b = shared.array(3)
    b.append(rows_a[:2] + 100)
    with pytest.raises(ValueError, match="another array"):
        a.append(rows_a)
    np.testing.assert_array_equal(a[1:3], rows_a[1:3])
    np.testing.assert_array_equal(b.memmap(), rows_a[:2] + 100)
    lazy = LazyRecords({"a": a, "b": b}, slice(1, None))
    assert list(lazy) == ["a", "b"] and "b" in lazy
    np.testing.assert_array_equal(lazy["b"], rows_a[:2, 1:] + 100)
    with pytest.raises(KeyError):
        lazy["c"]
