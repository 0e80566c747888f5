"""Greedy and beam search: equivalence at beam 1, n-best order, attention, batch invariance."""

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nmt.core.vocab import BOS, EOS, PAD
from nmt.model import bf16_matmul, decoder_step, native
from nmt.model import search as search_module
from nmt.model.bahdanau import DecoderState, Seq2Seq
from nmt.model.config import preset
from nmt.model.search import (
    DecodeConfig,
    _best_next,
    beam_search,
    greedy,
    length_limit,
    length_penalty,
    search,
)

VOCAB = 40


def make_model(seed=6):
    """A tiny random model with peaked outputs, so hypotheses differ and some end early."""
    torch.manual_seed(seed)
    model = Seq2Seq(preset("tiny"), VOCAB, VOCAB).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.4)
        model.output.weight[EOS] *= 4.0  # EOS likely in some states only
    return model


def make_batch(lengths=(9, 4, 6, 2), seed=6):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, VOCAB, (len(lengths), max(lengths)), generator=g)  # [B,S]
    for row, n in enumerate(lengths):
        src[row, n - 1] = EOS
        src[row, n:] = PAD
    return src, torch.tensor(lengths)


@pytest.mark.parametrize("seed", [3, 5, 6])
def test_greedy_equals_beam_one(seed):
    model = make_model(seed)
    src, src_len = make_batch(seed=seed)
    limit = length_limit(src_len, 1.5, 4)
    g = greedy(model, src, src_len, limit)
    b = beam_search(model, src, src_len, beam=1, max_len=limit, alpha=0.0)
    for hg, hb in zip(g, b, strict=True):
        assert hg[0].tokens == hb[0].tokens
        assert hg[0].logprob == pytest.approx(hb[0].logprob, abs=1e-4)
        np.testing.assert_allclose(hg[0].attention, hb[0].attention, atol=1e-6)


def test_beam_nbest_sorted_and_limited():
    model = make_model()
    src, src_len = make_batch()
    limit = length_limit(src_len, 1.0, 3)
    out = beam_search(model, src, src_len, beam=4, max_len=limit, alpha=0.6, n_best=3)
    assert len(out) == 4
    for hyps, n in zip(out, limit.tolist(), strict=True):
        assert len(hyps) == 3
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        for h in hyps:
            assert len(h.tokens) <= n
            assert h.score == pytest.approx(h.logprob / length_penalty(len(h.tokens) + 1, 0.6))
            assert PAD not in h.tokens and EOS not in h.tokens
        assert len({tuple(h.tokens) for h in hyps}) == 3


def test_beam_not_worse_than_greedy_without_penalty():
    model = make_model(3)
    src, src_len = make_batch(seed=3)
    g = greedy(model, src, src_len, 12)
    b = beam_search(model, src, src_len, beam=5, max_len=12, alpha=0.0)
    for hg, hb in zip(g, b, strict=True):
        assert hb[0].logprob >= hg[0].logprob - 1e-4


@pytest.mark.parametrize("beam", [1, 3])
def test_attention_rows_sum_to_one_and_shapes(beam):
    model = make_model()
    src, src_len = make_batch()
    out = beam_search(model, src, src_len, beam=beam, max_len=10, n_best=1)
    for hyps, n in zip(out, src_len.tolist(), strict=True):
        att = hyps[0].attention
        assert att.dtype == np.float32
        assert att.shape == (len(hyps[0].tokens) + 1, n)
        np.testing.assert_allclose(att.sum(axis=1), 1.0, atol=1e-5)  # so padding got 0


def test_padding_columns_get_zero():
    model = make_model()
    src, src_len = make_batch()
    with torch.inference_mode():
        enc = model.encode(src, src_len)
        _, _, attn = model.step(torch.full((4,), 2), model.init_state(enc), enc)  # [B,S]
    for row, n in enumerate(src_len.tolist()):
        assert torch.all(attn[row, n:] == 0)


@pytest.mark.parametrize("beam", [1, 4])
def test_batched_equals_alone(beam):
    model = make_model(5)
    src, src_len = make_batch(lengths=(3, 8, 5, 8, 2), seed=5)
    batched = beam_search(model, src, src_len, beam=beam, max_len=9, n_best=1)
    for row, n in enumerate(src_len.tolist()):
        alone = beam_search(model, src[row : row + 1, :n], src_len[row : row + 1], beam, 9)
        assert alone[0][0].tokens == batched[row][0].tokens
        assert alone[0][0].score == pytest.approx(batched[row][0].score, abs=1e-4)
        np.testing.assert_allclose(alone[0][0].attention, batched[row][0].attention, atol=1e-5)


@pytest.mark.parametrize("beam", [1, 3])
@pytest.mark.parametrize("compact", [None, "never", "always"])
def test_finished_rows_left_in_the_batch_change_nothing(beam, compact, monkeypatch):
    """Finished rows stay in the batch, writing to the spare slot, until it is compacted: whenever
    that happens (the default policy, never, at every finish), every sentence decodes as it does alone."""
    if compact is not None:
        monkeypatch.setattr(search_module, "_compact", lambda finished, rows: compact == "always")
    model = make_model(5)
    lengths = (3, 8, 5, 8, 2, 7, 4, 9, 6, 3, 5, 8)
    src, src_len = make_batch(lengths=lengths, seed=6)

    def decode(src, src_len):  # every hypothesis kept (n_best = beam), best first
        if beam == 1:
            return greedy(model, src, src_len, 12)
        return beam_search(model, src, src_len, beam=beam, max_len=12, n_best=beam)

    batched = decode(src, src_len)
    assert len({len(hyps[0].tokens) for hyps in batched}) >= 4  # sentences finish at different steps
    for row, n in enumerate(lengths):
        alone = decode(src[row : row + 1, :n], src_len[row : row + 1])[0]
        assert [h.tokens for h in alone] == [h.tokens for h in batched[row]]
        assert [h.logprob for h in alone] == pytest.approx([h.logprob for h in batched[row]], abs=1e-4)
        for one, many in zip(alone, batched[row], strict=True):
            np.testing.assert_allclose(one.attention, many.attention, atol=1e-5)


@pytest.mark.parametrize("input_feeding", [False, True])
def test_the_fused_decoding_step_is_the_decoders_step(input_feeding):
    """The paper's decoder, evaluated on a CPU, steps through the kernels (Decoder.fused_step): the same
    readout, state and attention as its module-by-module step in float64, with padded sources and two
    beams a sentence reading one copy of its annotations. Training, or autograd, takes the modules."""
    torch.manual_seed(0)
    model = Seq2Seq(preset("tiny", input_feeding=input_feeding), VOCAB, VOCAB).double().eval()
    src, src_len = make_batch()
    rows = 2 * len(src_len)
    with torch.inference_mode():
        enc = replace(model.encode(src, src_len), beams=2)
        start = model.init_state(enc).select(torch.arange(len(src_len)).repeat_interleave(2))
        feed = None if start.feed is None else torch.randn_like(start.feed)
        state = DecoderState(start.hidden + 0.3 * torch.randn_like(start.hidden), None, feed)  # beams differ
        y = torch.randint(4, VOCAB, (rows,))  # [2B]
        emb = model.decoder.embed_inputs(y)  # [2B,E]
        assert model.decoder.step_fused(emb)
        stacked = model.decoder.stacked_weights()
        inputs = decoder_step.InputProducts(model.decoder.embed_inputs, VOCAB, stacked.e, F.linear)
        fused_t, fused_state, fused_attn = model.decoder.fused_step(inputs(y), state, enc, stacked)
        t, new, attn = model.decoder(emb, state, enc)
    torch.testing.assert_close(fused_t, t, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fused_state.hidden, new.hidden, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fused_attn, attn, rtol=1e-10, atol=1e-12)
    assert (fused_state.feed is None) == (not input_feeding)
    if input_feeding:
        torch.testing.assert_close(fused_state.feed, new.feed, rtol=1e-10, atol=1e-12)
    assert attn[0, int(src_len[0]) :].eq(0).all() and not torch.equal(attn[0], attn[1])
    with torch.no_grad():
        assert not model.train().decoder.step_fused(emb)  # dropout on
        assert model.eval().decoder.step_fused(emb.float())
        assert not model.decoder.step_fused(emb.bfloat16())  # no kernel of that type
    assert not model.decoder.step_fused(emb)  # autograd on


def test_input_products_are_made_once_a_piece_and_read_back_for_every_row():
    """decoder_step.InputProducts: each call's rows are the products of their pieces' embeddings, whether
    the piece is new or was an input before; one table row is written a distinct piece."""
    torch.manual_seed(0)
    model = Seq2Seq(preset("tiny"), VOCAB, VOCAB).double().eval()
    weight = model.decoder.stacked_weights().e  # [3D+2M,E]
    inputs = decoder_step.InputProducts(model.decoder.embed_inputs, VOCAB, weight, F.linear)
    with torch.inference_mode():
        for y, distinct in ((torch.tensor([5, 9, 5, 5]), 2), (torch.tensor([9, 7, 5, 7, 11]), 4)):
            want = model.decoder.embed_inputs(y) @ weight.t()  # [N,3D+2M]
            torch.testing.assert_close(inputs(y), want, rtol=1e-12, atol=1e-12)
            assert inputs.used == distinct


def test_decoding_reads_the_weights_an_optimizer_changed_in_place(kernels, monkeypatch):
    """Training validates between updates: after a fused Adam step (which leaves the parameters' version
    counters as they were) decoding through the kernels reads the new weights, as torch's ops do."""
    model = make_model(5)
    src, src_len = make_batch(lengths=(3, 8, 5, 8, 2, 7), seed=6)
    before = greedy(model, src, src_len, 12)
    decoder = list(model.decoder.parameters())
    optimizer = torch.optim.Adam(decoder, lr=0.5, fused=True)
    for p in decoder:
        p.grad = torch.randn_like(p)
    versions = [p._version for p in decoder]
    optimizer.step()
    assert [p._version for p in decoder] == versions  # why nothing may be kept by version
    after = greedy(model, src, src_len, 12)
    monkeypatch.setattr(native, "kernels", lambda: None)
    want = greedy(model, src, src_len, 12)
    assert [h[0].tokens for h in after] == [h[0].tokens for h in want]
    assert [h[0].logprob for h in after] == pytest.approx([h[0].logprob for h in want], rel=1e-5)
    assert [h[0].tokens for h in after] != [h[0].tokens for h in before]


@pytest.mark.parametrize("beam", [1, 3])
def test_torchs_ops_decode_as_the_cpu_kernels(beam, kernels, monkeypatch):
    """Where the CPU kernels cannot be built, attention's energies (one copy of each sentence's keys for its
    beams), the decoder's step and the next-token choice run torch's ops: the same hypotheses, scores and
    attention."""
    model = make_model(5)
    src, src_len = make_batch(lengths=(3, 8, 5, 8, 2, 7), seed=6)

    def decode():
        if beam == 1:
            return greedy(model, src, src_len, 12)
        return beam_search(model, src, src_len, beam=beam, max_len=12, n_best=beam)

    with_kernels = decode()
    monkeypatch.setattr(native, "kernels", lambda: None)
    with_torch = decode()
    for ours, theirs in zip(with_kernels, with_torch, strict=True):
        assert [h.tokens for h in ours] == [h.tokens for h in theirs]
        assert [h.logprob for h in ours] == pytest.approx([h.logprob for h in theirs], abs=1e-4)
        for one, other in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(one.attention, other.attention, atol=1e-5)


def test_greedy_batched_equals_alone():
    model = make_model(6)
    src, src_len = make_batch(lengths=(3, 8, 5), seed=6)
    batched = greedy(model, src, src_len, 9)
    for row, n in enumerate(src_len.tolist()):
        alone = greedy(model, src[row : row + 1, :n], src_len[row : row + 1], 9)
        assert alone[0][0].tokens == batched[row][0].tokens
        np.testing.assert_allclose(alone[0][0].attention, batched[row][0].attention, atol=1e-5)


def test_length_limit_and_forced_eos():
    src_len = torch.tensor([1, 10])
    assert length_limit(src_len, 1.5, 2).tolist() == [3, 17]
    model = make_model()
    with torch.no_grad():
        model.output.bias[EOS] -= 100.0  # never chooses EOS on its own
    src, src_len = make_batch(lengths=(5, 3))
    out = greedy(model, src, src_len, torch.tensor([4, 2]))
    assert [len(h[0].tokens) for h in out] == [4, 2]
    out = beam_search(model, src, src_len, 3, torch.tensor([4, 2]), n_best=3)
    assert [[len(h.tokens) for h in hyps] for hyps in out] == [[4] * 3, [2] * 3]


@pytest.mark.parametrize("n", [1, 5])
def test_best_next_tokens_are_the_log_softmax_top_with_bans_and_forced_ends(n, with_and_without_kernels):
    """The n best next tokens are log_softmax's top n over the whole output vocabulary, PAD and BOS
    banned, returned as the columns' pieces; a row at its length limit gets EOS first and nothing else.
    The same from the CPU kernel (csrc/best_next.cpp) and from torch's ops."""
    logits = torch.randn(6, 40, generator=torch.Generator().manual_seed(0)) * 4
    logits[0, PAD] = logits[1, BOS] = 50.0  # banned even when they would win
    force = torch.tensor([False, False, True, False, False, True])
    reference = torch.log_softmax(logits, dim=-1)
    ids = torch.cat([torch.arange(4), 100 + 7 * torch.arange(36)])  # the specials, then other pieces
    best, tokens = _best_next(logits.clone(), force, n, ids)
    for row in range(6):
        if force[row]:
            assert tokens[row, 0] == EOS and best[row, 0] == pytest.approx(
                float(reference[row, EOS]), abs=1e-5
            )
            assert torch.isinf(best[row, 1:]).all()
            continue
        allowed = reference[row].clone()
        allowed[[PAD, BOS]] = float("-inf")
        expected, expected_tokens = allowed.topk(n)
        assert tokens[row].tolist() == ids[expected_tokens].tolist()
        torch.testing.assert_close(best[row], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("beam", [1, 3])
def test_bf16_products_decode_as_fp32_within_rounding(beam):
    """DecodeConfig(bf16=True): the steps' products in bf16; each step's logits within bf16's rounding
    of fp32's, and on this batch the same translations."""
    model = make_model(3)
    src, src_len = make_batch(seed=3)
    with torch.inference_mode():
        enc = model.encode(src, src_len)
        y = torch.full((len(src),), BOS)
        want, _, _ = model.step(y, model.init_state(enc), enc)
        got, _, _ = model.step(y, model.init_state(enc), enc, bf16_matmul.Linears())
    assert got.dtype == torch.float32 and not torch.equal(got, want)
    torch.testing.assert_close(got, want, rtol=5e-2, atol=5e-2)
    fp32 = search(model, src, src_len, DecodeConfig(beam=beam, max_len_b=4))
    bf16 = search(model, src, src_len, DecodeConfig(beam=beam, max_len_b=4, bf16=True))
    assert [h[0].tokens for h in bf16] == [h[0].tokens for h in fp32]
