"""The annotate head: linear by default; with `hidden`, batch norm over real positions only."""

import pytest
import torch

from genolong.errors import GenolongError
from genolong.models import EncoderConfig, TokenClassificationHead
from genolong.models.heads import MaskedBatchNorm
from genolong.models.net import build_net


def test_masked_batch_norm_uses_only_real_positions():
    torch.manual_seed(0)
    h = torch.randn(3, 10, 4, dtype=torch.float64) * 3 + 5  # (B, L, d)
    pad = torch.zeros(3, 10, dtype=torch.bool)
    pad[1, 6:] = True
    pad[2, 3:] = True
    norm = MaskedBatchNorm(4).double().train()
    out = norm(h, pad)
    reference = torch.nn.BatchNorm1d(4).double().train()(h[~pad])  # (N, d)
    torch.testing.assert_close(out[~pad], reference)
    assert (out[pad] == 0).all()
    # whatever the padding holds changes neither the real outputs nor the running statistics
    garbage = h.masked_fill(pad.unsqueeze(-1), 1e6)
    other = MaskedBatchNorm(4).double().train()
    torch.testing.assert_close(other(garbage, pad), out)
    torch.testing.assert_close(other.running_mean, norm.running_mean)


def test_masked_batch_norm_single_position_falls_back_to_running_statistics():
    norm = MaskedBatchNorm(4).train()
    h = torch.randn(1, 3, 4)
    pad = torch.tensor([[False, True, True]])
    out = norm(h, pad)
    torch.testing.assert_close(out[0, 0], h[0, 0] / (1 + norm.eps) ** 0.5)


def test_hidden_head_shapes_and_linear_head_keeps_its_state_dict():
    head = TokenClassificationHead(8, 5, dropout=0.1, hidden=16)
    assert head(torch.randn(2, 7, 8), torch.zeros(2, 7, dtype=torch.bool)).shape == (2, 7, 5)
    # checkpoints written before `head_hidden` existed hold exactly these keys
    assert set(TokenClassificationHead(8, 5).state_dict()) == {"proj.weight", "proj.bias"}
    net = build_net(dict(vocab_size=20, d_model=8, n_heads=2, n_layers=1, d_ff=16, attention="full",
                         head_hidden=16), "annotate", 5)
    assert net.head.fc.out_features == 16


def test_negative_head_hidden_is_refused():
    with pytest.raises(GenolongError, match="head_hidden"):
        EncoderConfig(vocab_size=20, d_model=8, n_heads=2, n_layers=1, d_ff=16, head_hidden=-1)
