"""The leak check stays exact on small genomes and samples (with bounded memory) on large ones."""

import numpy as np
import pytest

from genolong.data import split as split_mod
from genolong.data.split import check_leak, make_split
from genolong.data.tokenizer import KmerTokenizer


def _genome_with_repeat(length: int = 400_000, repeat: int = 30_000, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    seq = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, length)].copy()
    # a 30 kbp copy of a train stretch inside the test block (the last 10% of the record)
    seq[370_000:370_000 + repeat] = seq[50_000:50_000 + repeat]
    return seq.tobytes()


@pytest.mark.parametrize("max_hashes", [None, 10_000])
def test_leak_found_exactly_and_when_sampled(monkeypatch, max_hashes):
    seq = _genome_with_repeat()
    if max_hashes is not None:
        monkeypatch.setattr(split_mod, "_MAX_HELD_HASHES", max_hashes)
    regions = make_split("contiguous:val=0.1;test=0.1;gap=1k", {"r": len(seq)}, KmerTokenizer(6))
    report = check_leak(lambda s, a, b: seq[a:b], regions)
    # 30 kbp copied: 29 or 30 aligned 1 kbp train tiles lie wholly inside the copy
    if max_hashes is None:
        assert report.sampling == 1 and report.leaked_tiles in (29, 30)
    else:
        assert report.sampling > 1
        # an estimate: sampled matches x sampling rate, of the right order
        assert 0 < report.leaked_tiles <= 30 * report.sampling


def test_no_leak_in_random_sequence():
    rng = np.random.default_rng(2)
    seq = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, 200_000)].tobytes()
    regions = make_split(None, {"r": len(seq)}, KmerTokenizer(6))
    assert check_leak(lambda s, a, b: seq[a:b], regions).leaked_tiles == 0
