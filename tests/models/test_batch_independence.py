"""A window's outputs at its real positions depend neither on its batch-mates nor on how much
padding the batch adds (eval mode, every attention)."""

import pytest
import torch

from genolong.models import Encoder, EncoderConfig
from genolong.models.lsh_attention import LSHAttention

SHORT, LONG = 200, 1400


def _encoder(attention):
    torch.manual_seed(0)
    cfg = EncoderConfig(vocab_size=64, d_model=32, n_heads=2, n_layers=2, d_ff=64,
                        attention=attention, bucket_size=16, n_hashes=2, attention_window=24,
                        global_tokens=(0,))
    return Encoder(cfg).double().eval()


def _batch(rows: list[torch.Tensor], length: int) -> torch.Tensor:
    """Rows padded with pad_id 0 to `length`: (len(rows), length)."""
    out = torch.zeros(len(rows), length, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


@pytest.mark.parametrize("attention", ["lsh", "sliding", "full", ("lsh", "sliding")])
def test_outputs_do_not_depend_on_batch_mates_or_padding(attention):
    enc = _encoder(attention)
    g = torch.Generator().manual_seed(1)
    short = torch.randint(5, 64, (SHORT,), generator=g)
    long = torch.randint(5, 64, (LONG,), generator=g)
    other = torch.randint(5, 64, (700,), generator=g)
    with torch.no_grad():
        alone = enc(short[None])[0]  # (SHORT, d)
        runs = {
            "padded": enc(_batch([short], 333))[0],
            "beside a longer row": enc(_batch([short, long], LONG))[0],
            "second, beside two others": enc(_batch([long, short, other], LONG + 37))[1],
        }
    for name, h in runs.items():
        torch.testing.assert_close(h[:SHORT], alone, rtol=1e-9, atol=1e-9, msg=name)


def test_lsh_bucket_count_follows_each_rows_own_length():
    """The rule the test above relies on, stated directly: two rows of different lengths get
    the bucket counts they would get alone, and equal lengths share the same eval rotations."""
    layer = LSHAttention(32, 2, bucket_size=16, n_hashes=2).eval()
    rows = layer.row_rotations([SHORT, LONG, SHORT], 16, torch.device("cpu"))
    alone = layer.row_rotations([SHORT], 16, torch.device("cpu"))[0]
    assert rows[0] is rows[2]
    for a, b in zip(rows[0], alone):
        assert torch.equal(a, b)
    assert sum(r.shape[2] for r in rows[1]) > sum(r.shape[2] for r in rows[0])
