"""The Bahdanau model: shapes, masking, the paper's order of attention, gradients."""

import pytest
import torch

from nmt.core.vocab import BOS, EOS, PAD, UNK
from nmt.model.bahdanau import Seq2Seq, cell_step, count_parameters
from nmt.model.config import preset
from nmt.model.search import greedy

VOCAB = 50


def batch(seed=0, lengths=(7, 5, 3), tgt_len=6):
    """A padded source batch with the given lengths and random decoder inputs."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, VOCAB, (len(lengths), max(lengths)), generator=g)
    for row, n in enumerate(lengths):
        src[row, n:] = PAD
    tgt_in = torch.randint(4, VOCAB, (len(lengths), tgt_len), generator=g)
    return src, torch.tensor(lengths), tgt_in


def model(seed=0, **overrides):
    torch.manual_seed(seed)
    return Seq2Seq(preset("tiny", **overrides), VOCAB, VOCAB).eval()


VARIANTS = [
    {},
    {"attention": "luong_general"},
    {"attention": "luong_dot", "enc_hidden": 32, "dec_hidden": 64},
    {"cell": "lstm", "input_feeding": True},
    {"enc_layers": 2, "dec_layers": 2},
    {"tie_embeddings": True, "emb_dim": 32, "maxout_dim": 32},
]


@pytest.mark.parametrize("overrides", VARIANTS, ids=lambda o: ",".join(o) or "paper")
def test_shapes_and_masked_attention(overrides):
    src, src_len, tgt_in = batch()
    logits, attn = model(**overrides).logits(src, src_len, tgt_in)
    assert logits.shape == (3, 6, VOCAB)
    assert attn.shape == (3, 6, 7)
    torch.testing.assert_close(attn.sum(-1), torch.ones(3, 6))
    assert (attn[1, :, 5:] == 0).all() and (attn[2, :, 3:] == 0).all()
    assert (attn[2, :, :3] > 0).all()


def test_padding_does_not_change_the_result():
    """A sentence decodes the same alone and padded inside a longer batch."""
    src, src_len, tgt_in = batch()
    m = model()
    logits, attn = m.logits(src, src_len, tgt_in)
    alone_logits, alone_attn = m.logits(src[2:, :3], src_len[2:], tgt_in[2:])
    torch.testing.assert_close(logits[2:], alone_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attn[2:, :, :3], alone_attn, atol=1e-6, rtol=1e-5)


def test_step_by_step_equals_teacher_forced_pass():
    src, src_len, tgt_in = batch()
    m = model(cell="lstm", input_feeding=True)
    logits, attn = m.logits(src, src_len, tgt_in)
    enc = m.encode(src, src_len)
    state = m.init_state(enc)
    for i in range(tgt_in.size(1)):
        step_logits, state, step_attn = m.step(tgt_in[:, i], state, enc)
        torch.testing.assert_close(step_logits, logits[:, i], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(step_attn, attn[:, i], atol=1e-6, rtol=1e-5)


def test_bahdanau_scores_with_the_previous_state():
    """a_i depends on y_{<i} only through s_{i-1}: changing y_{i-1} cannot move a_i in the
    paper's order, but does in Luong's order, which scores with the new state s_i."""
    src, src_len, tgt_in = batch()
    changed = tgt_in.clone()
    changed[:, 2] = (changed[:, 2] + 1 - 4) % (VOCAB - 4) + 4
    paper = model()
    _, a = paper.logits(src, src_len, tgt_in)
    _, b = paper.logits(src, src_len, changed)
    assert torch.equal(a[:, :3], b[:, :3])  # steps 0..2 score with s_{-1}..s_1
    assert (a[:, 3] - b[:, 3]).abs().max() > 1e-7  # step 3 scores with s_2, which read y_2
    luong = model(attention="luong_general")
    _, c = luong.logits(src, src_len, tgt_in)
    _, d = luong.logits(src, src_len, changed)
    assert torch.equal(c[:, :2], d[:, :2])
    assert (c[:, 2] - d[:, 2]).abs().max() > 1e-7  # step 2 scores with s_2 itself


def test_gradients_match_finite_differences():
    src, src_len, tgt_in = batch(lengths=(4, 2), tgt_len=3)
    tgt_out = torch.roll(tgt_in, -1, dims=1)
    m = model().double()
    names = [
        "decoder.attention.v.weight",
        "decoder.attention.key_proj.weight",
        "decoder.init_proj.weight",
        "output.bias",
    ]
    params = {name: p.detach().clone().requires_grad_() for name, p in m.named_parameters() if name in names}

    def loss(*values):
        values = dict(zip(params, values, strict=True))
        return torch.func.functional_call(m, values, (src, src_len, tgt_in, tgt_out, 0.1))[0]

    assert torch.autograd.gradcheck(loss, tuple(params.values()), eps=1e-6, atol=1e-5)


def test_invalid_variants_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="luong_dot attention needs dec_hidden == 2 \\* enc_hidden"):
        model(attention="luong_dot", dec_hidden=48)
    with pytest.raises(ValueError, match="tie_embeddings needs one joint vocabulary"):
        Seq2Seq(preset("tiny", tie_embeddings=True, maxout_dim=32), VOCAB, VOCAB + 1)


def test_presets_have_the_documented_sizes():
    base = Seq2Seq(preset("base"), 8000, 8000)
    assert base.cfg.emb_dim == 256 and base.cfg.enc_hidden == 256 and base.cfg.dec_hidden == 512
    assert 7_000_000 < count_parameters(base) < 11_000_000
    paper = preset("paper")
    assert (paper.emb_dim, paper.enc_hidden, paper.dec_hidden, paper.maxout_dim) == (620, 1000, 1000, 500)


@pytest.mark.parametrize("overrides", [{}, {"cell": "lstm", "input_feeding": True}], ids=["paper", "feeding"])
def test_source_posterior_is_bayes_rule_over_annotations(overrides):
    """p(j | y_i) is a_ij p(y_i | c_i = h_j) normalised over the real source positions, computed
    here one (sentence, step, position) at a time through the readout; chunking changes nothing."""
    src, src_len, tgt_in = batch()
    tgt_out = torch.roll(tgt_in, -1, dims=1)
    m = model(**overrides)
    with torch.no_grad():
        forced = m.teacher_force(src, src_len, tgt_in)
        posterior = m.source_posterior(forced, tgt_out)
        torch.testing.assert_close(m.source_posterior(forced, tgt_out, max_elements=1), posterior)
        for b, length in enumerate(src_len.tolist()):
            for i in range(tgt_in.size(1)):
                scores = torch.stack(
                    [
                        forced.attns[b, i, j].log()
                        + torch.log_softmax(
                            m.output(
                                m.decoder.read(
                                    forced.queries[b, i], forced.embs[b, i], forced.enc.states[b, j]
                                )
                            ),
                            -1,
                        )[tgt_out[b, i]]
                        for j in range(length)
                    ]
                )
                torch.testing.assert_close(
                    posterior[b, i, :length], torch.softmax(scores, 0), atol=1e-5, rtol=1e-4
                )
                assert (posterior[b, i, length:] == 0).all()
    assert not torch.allclose(posterior, forced.attns)  # the target word moves the weights


def test_alignment_head_reads_the_emitted_word_and_trains_only_itself():
    """b_ij is a distribution over the real source positions that changes with the emitted word; its
    loss reaches the head's parameters only; the translation's parameters start as without a head."""
    src, src_len, tgt_in = batch()
    tgt_out = torch.roll(tgt_in, -1, dims=1)
    plain, m = model(), model(align_head=True)
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), m.parameter_groups()[0], strict=True))
    assert [len(g) for g in plain.parameter_groups()] == [len(m.parameter_groups()[0])]
    loss, attn, aligned = m(src, src_len, tgt_in, tgt_out)
    torch.testing.assert_close(loss, plain(src, src_len, tgt_in, tgt_out)[0])
    assert aligned.shape == attn.shape == (3, 6, 7)
    torch.testing.assert_close(aligned.sum(-1), torch.ones(3, 6))
    assert (aligned[1, :, 5:] == 0).all() and (aligned[2, :, 3:] == 0).all()
    other = m(src, src_len, tgt_in, (tgt_out + 1) % VOCAB)[2]
    assert not torch.allclose(aligned, other)
    assert m(src, src_len, tgt_in, tgt_out, align=False)[2] is None
    assert plain(src, src_len, tgt_in, tgt_out)[2] is None
    aligned[:, :, 0].log().sum().backward()
    head = {id(p) for p in m.align_head.parameters()}
    assert all((p.grad is not None) == (id(p) in head) for p in m.parameters())
    with pytest.raises(ValueError, match="no alignment head"):
        plain.head_weights(plain.teacher_force(src, src_len, tgt_in), src, tgt_out)


def test_cell_step_is_torchs_gru_and_lstm_cell():
    """The decoder's cell math (written out so that training can defer its weight gradients) is
    nn.GRUCell's and nn.LSTMCell's."""
    torch.manual_seed(0)
    x, h, c = torch.randn(3, 5), torch.randn(3, 4), torch.randn(3, 4)
    gru, lstm = torch.nn.GRUCell(5, 4), torch.nn.LSTMCell(5, 4)
    new, none = cell_step(gru, x, h, None, torch.nn.functional.linear)
    torch.testing.assert_close(new, gru(x, h))
    assert none is None
    new_h, new_c = cell_step(lstm, x, h, c, torch.nn.functional.linear)
    want_h, want_c = lstm(x, (h, c))
    torch.testing.assert_close(new_h, want_h)
    torch.testing.assert_close(new_c, want_c)


def test_an_output_vocabulary_scores_its_pieces_and_others_as_unk():
    """A model whose output layer covers some pieces: logits over those, search emits only those,
    a target outside them is scored as UNK, and the vocabulary travels with the weights (and
    checkpoints without one load as the full vocabulary)."""
    src, src_len, tgt_in = batch()
    ids = torch.tensor([PAD, UNK, BOS, EOS] + list(range(10, VOCAB, 3)))
    torch.manual_seed(0)
    m = Seq2Seq(preset("tiny"), VOCAB, VOCAB, ids).eval()
    logits, _ = m.logits(src, src_len, tgt_in)
    assert logits.shape == (3, 6, len(ids))
    tgt_out = torch.full_like(tgt_in, 13)  # 13 = 10 + 3: in the output vocabulary
    outside = torch.full_like(tgt_in, 11)
    unk = torch.full_like(tgt_in, UNK)
    assert m(src, src_len, tgt_in, outside)[0] == m(src, src_len, tgt_in, unk)[0]
    assert m(src, src_len, tgt_in, outside)[0] != m(src, src_len, tgt_in, tgt_out)[0]
    hyps = greedy(m, src, src_len, 8)
    assert {t for hs in hyps for h in hs for t in h.tokens} <= set(ids.tolist())
    meta = {
        "model_config": m.cfg.model_dump(),
        "src_vocab": VOCAB,
        "tgt_vocab": VOCAB,
        "output_vocab": len(ids),
    }
    loaded = Seq2Seq.described(meta)
    loaded.load_state_dict(m.state_dict())
    assert torch.equal(loaded.output_ids, ids) and torch.equal(
        loaded.output_rows[outside], loaded.output_rows[unk]
    )
    full = model()
    old = {k: v for k, v in full.state_dict().items() if k != "output_ids"}  # a checkpoint from before
    full.load_state_dict(old)
    assert torch.equal(full.output_ids, torch.arange(VOCAB))
    with pytest.raises(ValueError, match="must start with the special pieces"):
        Seq2Seq(preset("tiny"), VOCAB, VOCAB, ids[2:])


def test_context_gradients_are_bmms():
    """The context's hand-written backward (the annotations' gradient as a broadcast) is the product's."""
    from nmt.model.bahdanau import _Context

    g = torch.Generator().manual_seed(2)
    weights = torch.rand(3, 5, generator=g, dtype=torch.float64).softmax(-1).requires_grad_()
    states = torch.randn(3, 5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_Context.apply, (weights, states))
    torch.testing.assert_close(_Context.apply(weights, states), torch.bmm(weights[:, None], states)[:, 0])


@pytest.mark.parametrize("overrides", [{}, {"input_feeding": True}], ids=["paper", "feeding"])
def test_bf16_products_train_the_same_model_within_rounding(overrides):
    """matmul_dtype=bf16 (training's bf16 on a CPU): the loss and every gradient are fp32 and within
    bf16's rounding of the fp32 pass's."""
    src, src_len, tgt_in = batch()
    tgt_out = torch.roll(tgt_in, -1, dims=1)
    m = model(**overrides).train()
    runs = []
    for dtype in (None, torch.bfloat16):
        torch.manual_seed(5)  # the same dropout masks
        m.zero_grad()
        loss, _, _ = m(src, src_len, tgt_in, tgt_out, matmul_dtype=dtype)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
        runs.append((loss.detach(), grads))
    (loss32, grads32), (loss16, grads16) = runs
    assert loss16.dtype == torch.float32 and loss16 != loss32
    torch.testing.assert_close(loss16, loss32, rtol=1e-2, atol=0)
    assert grads16.keys() == grads32.keys()
    for name, grad in grads16.items():
        assert grad.dtype == torch.float32
        cosine = torch.nn.functional.cosine_similarity(grad.flatten(), grads32[name].flatten(), dim=0)
        assert cosine > 0.99, name
