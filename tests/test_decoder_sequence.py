"""Training's decoder loop as one autograd function: the step-by-step loop's outputs and gradients."""

import pytest
import torch

from nmt.core.vocab import PAD
from nmt.model import bahdanau
from nmt.model.bahdanau import Decoder, Seq2Seq
from nmt.model.config import ModelConfig, preset
from nmt.model.decoder_sequence import decoder_sequence

SRC_LEN = torch.tensor([7, 5, 3, 7, 1])


def batch(src_vocab=30, tgt_vocab=40, steps=6):
    """A padded batch: src [B,S] of SRC_LEN, tgt_in/tgt_out [B,T] with one row padded."""
    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, src_vocab, (len(SRC_LEN), int(SRC_LEN.max())), generator=g)
    src[torch.arange(src.size(1)) >= SRC_LEN[:, None]] = PAD
    tgt_in = torch.randint(4, tgt_vocab, (len(SRC_LEN), steps), generator=g)
    tgt_out = torch.randint(4, tgt_vocab, (len(SRC_LEN), steps), generator=g)
    tgt_out[1, 4:] = PAD
    return src, tgt_in, tgt_out


def loss_and_gradients(model, fused, monkeypatch, matmul_dtype=None):
    """The loss plus a weighted sum of the attention, and every parameter's gradient, with training's
    decoder loop fused (decoder_sequence) or step by step."""
    with monkeypatch.context() as patch:
        if not fused:
            patch.setattr(Decoder, "sequence_fused", lambda self, embs: False)
        src, tgt_in, tgt_out = batch()
        model.zero_grad()
        loss, attn, _ = model(src, SRC_LEN, tgt_in, tgt_out, matmul_dtype=matmul_dtype)
        weights = torch.randn(attn.shape, generator=torch.Generator().manual_seed(1), dtype=attn.dtype)
        total = loss + (attn * weights).sum()
        total.backward()
    return total.detach(), {
        name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None
    }


@pytest.mark.parametrize("input_feeding", [False, True])
def test_the_fused_loop_is_the_step_by_step_loop(input_feeding, with_and_without_kernels, monkeypatch):
    """The same loss, attention and parameter gradients in float64, sources and targets padded, with the
    CPU kernels or with torch's ops in both."""
    torch.manual_seed(0)
    model = Seq2Seq(preset("tiny", input_feeding=input_feeding), 30, 40).double()
    calls = []
    monkeypatch.setattr(bahdanau, "decoder_sequence", lambda *a: calls.append(1) or decoder_sequence(*a))
    fused, fused_grads = loss_and_gradients(model, True, monkeypatch)
    assert calls == [1]  # the fused loop ran, once
    loop, loop_grads = loss_and_gradients(model, False, monkeypatch)
    torch.testing.assert_close(fused, loop)
    assert fused_grads.keys() == loop_grads.keys()
    assert "decoder.attention.v.weight" in fused_grads
    for name, grad in loop_grads.items():
        torch.testing.assert_close(fused_grads[name], grad, rtol=1e-7, atol=1e-10, msg=name)


@pytest.mark.parametrize("input_feeding", [False, True])
def test_gradients_pass_gradcheck(input_feeding, with_and_without_kernels):
    g = torch.Generator().manual_seed(3)
    steps, batch_size, src_len, emb, ctx, size, attn, maxout = 3, 2, 4, 3, 4, 5, 6, 2

    def leaf(*shape):
        return (0.5 * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()

    mask = torch.ones(batch_size, src_len, dtype=torch.bool)
    mask[1, 2:] = False
    in_dim = emb + ctx + (maxout if input_feeding else 0)
    inputs = [leaf(steps, batch_size, emb), leaf(batch_size, size), leaf(batch_size, src_len, attn)]
    inputs += [leaf(batch_size, src_len, ctx), leaf(attn, size), leaf(attn), leaf(attn)]
    inputs += [leaf(3 * size, in_dim), leaf(3 * size, size), leaf(3 * size), leaf(3 * size)]
    if input_feeding:
        inputs += [leaf(2 * maxout, size + emb + ctx), leaf(2 * maxout)]

    def run(embs, s0, keys, states, w_a, b_a, v, w_ih, w_hh, b_ih, b_hh, *readout):
        outputs = decoder_sequence(
            embs, s0, keys, states, mask, (w_a, b_a, v), (w_ih, w_hh, b_ih, b_hh), tuple(readout) or None
        )
        return outputs if input_feeding else outputs[:3]

    assert torch.autograd.gradcheck(run, inputs)


def test_bf16_products_keep_gradients_within_rounding_of_fp32s(monkeypatch):
    """With bf16 operands every gradient is within 10% of fp32's by norm, as the step-by-step bf16 loop's
    are (both 0.5-7% over three seeds, measured: maxout's picks and the GRU's gates amplify the rounding
    differently from seed to seed), and the products are really rounded."""
    torch.manual_seed(0)
    model = Seq2Seq(preset("small", input_feeding=True, dropout=0.0), 30, 40)
    _, exact = loss_and_gradients(model, False, monkeypatch)
    _, fused = loss_and_gradients(model, True, monkeypatch, torch.bfloat16)
    _, loop = loss_and_gradients(model, False, monkeypatch, torch.bfloat16)
    for name, grad in exact.items():
        for rounded in (fused, loop):
            assert ((rounded[name] - grad).norm() / grad.norm()).item() < 0.1, name
    decoder = [n for n in exact if n.startswith("decoder.")]
    assert any(not torch.equal(fused[n], exact[n]) for n in decoder)


@pytest.mark.parametrize(
    "overrides",
    [{"cell": "lstm"}, {"dec_layers": 2}, {"attention": "luong_general"}],
    ids=["lstm", "two-layers", "luong"],
)
def test_other_decoders_run_step_by_step(overrides, monkeypatch):
    """The fused loop is the paper's one-layer GRU with Bahdanau attention; the rest keep the loop."""
    calls = []
    monkeypatch.setattr(bahdanau, "decoder_sequence", lambda *a: calls.append(1) or decoder_sequence(*a))
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(**{**preset("tiny").model_dump(), **overrides}), 30, 40)
    src, tgt_in, tgt_out = batch()
    loss, _, _ = model(src, SRC_LEN, tgt_in, tgt_out)
    loss.backward()
    assert calls == []
    paper = Seq2Seq(preset("tiny"), 30, 40)
    paper(src, SRC_LEN, tgt_in, tgt_out)[0].backward()
    with torch.no_grad():  # evaluation's teacher-forced passes run step by step
        paper(src, SRC_LEN, tgt_in, tgt_out)
    assert calls == [1]
