"""The GRU with its backward written out: torch's packed GRU's states and gradients, and the encoder's."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nmt.core.vocab import EOS, PAD
from nmt.model import bahdanau
from nmt.model.bahdanau import Seq2Seq
from nmt.model.config import ModelConfig
from nmt.model.gru_sequence import gru_sequence

LENGTHS = torch.tensor([7, 3, 5, 1, 6])


def padded_input(dtype=torch.float64):
    """x [B,S,in] with rows of LENGTHS, and valid [S,B,1]."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(len(LENGTHS), int(LENGTHS.max()), 6, generator=g, dtype=dtype, requires_grad=True)
    valid = torch.arange(x.size(1))[:, None, None] < LENGTHS[None, :, None]  # [S,B,1]
    return x, valid


def test_states_and_gradients_are_torchs_packed_gru(with_and_without_kernels):
    x, valid = padded_input()
    torch.manual_seed(0)
    rnn = nn.GRU(6, 4, batch_first=True, dtype=torch.float64)
    packed = pack_padded_sequence(x, LENGTHS, batch_first=True, enforce_sorted=False)
    out, last = rnn(packed)
    want, _ = pad_packed_sequence(out, batch_first=True)  # [B,S,H], 0 at padding
    states = gru_sequence(x.transpose(0, 1), valid, *rnn.parameters())  # [S,B,H]
    got = (states * valid).transpose(0, 1)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(states[-1], last[0])  # frozen past each row's length: the last is the final
    g = torch.Generator().manual_seed(1)
    weights = torch.randn(want.shape, generator=g, dtype=torch.float64)
    leaves = (x, *rnn.parameters())
    expected = torch.autograd.grad((want * weights).sum() + last.sum(), leaves)
    actual = torch.autograd.grad((got * weights).sum() + states[-1].sum(), leaves)
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, e)


def test_gradients_pass_gradcheck(with_and_without_kernels):
    x, valid = padded_input()
    g = torch.Generator().manual_seed(2)
    params = [
        torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
        for shape in [(12, 6), (12, 4), (12,), (12,)]
    ]
    time_major = x.detach().transpose(0, 1).contiguous().requires_grad_()
    assert torch.autograd.gradcheck(lambda *a: gru_sequence(a[0], valid, *a[1:]), (time_major, *params))


@pytest.mark.parametrize("layers", [1, 2])
def test_the_training_encoder_is_the_packed_one(layers, monkeypatch):
    """Under autograd on a CPU the encoder runs gru_sequence: the annotations, bwd_1 and every gradient
    of the packed nn.GRU that decoding (no autograd) runs."""
    calls = []
    monkeypatch.setattr(bahdanau, "gru_sequence", lambda *a: calls.append(a) or gru_sequence(*a))
    cfg = ModelConfig(emb_dim=8, enc_hidden=6, dec_hidden=10, attn_dim=5, maxout_dim=4, enc_layers=layers)
    torch.manual_seed(3)
    model = Seq2Seq(cfg, 20, 20).double().eval()  # eval: no dropout, so both runs see the same inputs
    src = torch.randint(4, 20, (len(LENGTHS), int(LENGTHS.max())))
    for row, n in enumerate(LENGTHS.tolist()):
        src[row, n - 1], src[row, n:] = EOS, PAD
    with torch.no_grad():
        want_states, want_bwd_1 = model.encoder(src, LENGTHS)  # torch's packed GRU
    states, bwd_1 = model.encoder(src, LENGTHS)  # gru_sequence
    assert len(calls) == 2 * layers  # each layer's two directions
    torch.testing.assert_close(states, want_states)
    torch.testing.assert_close(bwd_1, want_bwd_1)
    params = list(model.encoder.parameters())
    loss = (states * torch.linspace(-1, 1, states.size(-1), dtype=torch.float64)).sum() + bwd_1.sum()
    actual = torch.autograd.grad(loss, params)
    packed_states, packed_bwd_1 = packed_encoder(model, src)
    loss = (packed_states * torch.linspace(-1, 1, states.size(-1), dtype=torch.float64)).sum()
    expected = torch.autograd.grad(loss + packed_bwd_1.sum(), params)
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, e)


def packed_encoder(model, src):
    """The encoder through torch's packed GRU under autograd (what CUDA runs)."""
    x = model.encoder.embed(src)
    packed = pack_padded_sequence(x, LENGTHS, batch_first=True, enforce_sorted=False)
    out, last = model.encoder.rnn(packed)
    states, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))
    return states, last[-1]
