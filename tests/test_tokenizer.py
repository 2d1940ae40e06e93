"""KmerTokenizer: ids, round trips, N/IUPAC/lowercase, RC map, geometry, chunking."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from genolong.errors import GenolongError
from genolong.data.tokenizer import KmerTokenizer


def _naive(seq: str, k: int, stride: int) -> list[int]:
    """Reference encoder: one k-mer at a time, lexicographic ACGT order after 5 specials."""
    order = {"".join(p): i + 5 for i, p in enumerate(itertools.product("ACGT", repeat=k))}
    n = (len(seq) - k) // stride + 1 if len(seq) >= k else 0
    return [order.get(seq[i * stride : i * stride + k].upper(), 1) for i in range(n)]


def test_specials_and_vocab_size():
    tok = KmerTokenizer()
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert tok.vocab_size == 4101 and tok.k == 6 and tok.stride == 6
    assert tok.encode("AAAAAA").tolist() == [5]
    assert tok.encode("TTTTTT").tolist() == [4100]
    assert tok.id_to_token(5) == "AAAAAA" and tok.id_to_token(1) == "[UNK]"
    assert tok.token_to_id("ACGTAC") == int(tok.encode("ACGTAC")[0])


@pytest.mark.parametrize("k,stride", [(6, 6), (6, 1), (3, 2), (4, 5), (1, 1)])
def test_matches_naive_encoder(k, stride):
    rng = np.random.default_rng(k * 10 + stride)
    seq = "".join(rng.choice(list("ACGTacgtNRYn"), size=503))
    tok = KmerTokenizer(k, stride)
    assert tok.encode(seq).tolist() == _naive(seq, k, stride)
    assert tok.encode(seq.encode()).tolist() == _naive(seq, k, stride)


@pytest.mark.parametrize("k,stride", [(6, 6), (6, 1), (5, 3), (3, 7)])
def test_round_trip(k, stride):
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACGT"), size=1000))
    tok = KmerTokenizer(k, stride)
    ids = tok.encode(seq)
    covered = (len(ids) - 1) * stride + k
    decoded = tok.decode(ids)
    assert len(decoded) == covered
    if stride <= k:
        assert decoded == seq[:covered]
    else:
        for i in range(len(ids)):
            assert decoded[i * stride : i * stride + k] == seq[i * stride : i * stride + k]


def test_lowercase_reads_as_uppercase():
    tok = KmerTokenizer()
    assert np.array_equal(tok.encode("acgtacGGCCtt"), tok.encode("ACGTACGGCCTT"))
    assert tok.decode(tok.encode("acgtac")) == "ACGTAC"


@pytest.mark.parametrize("code", list("NRYKMSWBDHV-.n*"))
def test_any_non_acgt_gives_unk(code):
    tok = KmerTokenizer()
    seq = "ACGTAC" + "ACG" + code + "TA" + "GGGCCC"
    ids = tok.encode(seq)
    assert ids.tolist() == [int(tok.encode("ACGTAC")[0]), tok.unk_id, int(tok.encode("GGGCCC")[0])]
    assert tok.decode(ids) == "ACGTAC" + "NNNNNN" + "GGGCCC"


def test_dtype_and_lengths():
    assert KmerTokenizer(6).encode("ACGTACGT").dtype == np.uint16
    assert KmerTokenizer(8).encode("ACGTACGT").dtype == np.uint32  # 4^8 + 5 > 65536
    assert KmerTokenizer(8).encode("TTTTTTTT").tolist() == [4**8 + 4]
    tok = KmerTokenizer(6, 6)
    assert tok.n_tokens(5) == 0 and tok.encode("ACGTA").size == 0 and tok.encode("").size == 0
    assert tok.n_tokens(6) == 1 and tok.n_tokens(11) == 1 and tok.n_tokens(12) == 2
    assert tok.n_tokens(1_084_586) == 180_764  # data/README: the default genome's token count
    assert KmerTokenizer(6, 1).n_tokens(10) == 5


def test_token_geometry():
    tok = KmerTokenizer(6, 3)
    assert tok.token_start(4) == 12 and tok.token_span(4) == (12, 18)
    assert np.array_equal(tok.token_start(np.arange(3)), [0, 3, 6])
    # tokens whose whole span lies in [4, 20): starts 6, 9, 12 (12 + 6 = 18 <= 20), not 15
    assert tok.token_range(4, 20) == (2, 5)
    assert tok.token_range(0, 5) == (0, 0)


def test_rc_map_is_involution_and_reverse_complements():
    for k in (1, 3, 6):
        tok = KmerTokenizer(k)
        rc = tok.rc_map
        assert rc.shape == (tok.vocab_size,)
        assert np.array_equal(rc[rc], np.arange(tok.vocab_size))
        assert np.array_equal(rc[:5], np.arange(5))
    tok = KmerTokenizer(6)
    seq = "AACGTTGGGCATNNNNNNCCCATG"
    comp = seq[::-1].translate(str.maketrans("ACGTN", "TGCAN"))
    assert np.array_equal(tok.rc_map[tok.encode(seq)[::-1]], tok.encode(comp))


def test_chunked_encoding_matches_whole(monkeypatch):
    import genolong.data.tokenizer as mod

    rng = np.random.default_rng(7)
    seq = rng.choice(np.frombuffer(b"ACGTNacgt", np.uint8), size=10_007).tobytes()
    tok = KmerTokenizer(6, 4)
    whole = tok.encode(seq)
    monkeypatch.setattr(mod, "_CHUNK_TOKENS", 37)
    assert np.array_equal(tok.encode(seq), whole)
    out = np.empty(tok.n_tokens(len(seq)), dtype=tok.dtype)
    seen = []
    tok.encode_record(lambda a, b: seq[a:b], len(seq), out, chunk_tokens=101, progress=seen.append)
    assert np.array_equal(out, whole)
    assert sum(seen) == tok.n_tokens(len(seq)) * 4


def test_identity_and_serialisation():
    a, b = KmerTokenizer(6), KmerTokenizer(6, 6)
    assert a == b and a.vocab_hash == b.vocab_hash
    assert KmerTokenizer(6, 1).vocab_hash != a.vocab_hash
    assert KmerTokenizer(5).vocab_hash != a.vocab_hash
    assert KmerTokenizer.from_dict(a.to_dict()) == a
    bad = dict(a.to_dict(), vocab_hash="0" * 64)
    with pytest.raises(GenolongError, match="vocab_hash"):
        KmerTokenizer.from_dict(bad)
    with pytest.raises(ValueError):
        KmerTokenizer(0)
