"""The attention encoder-decoder of Bahdanau, Cho and Bengio (2014), read top to bottom.

Notation of the paper (appendix A), with B = batch, S = source length, T = target length,
H = encoder size per direction, D = decoder size, A = attention size, E = embedding size:

    h_j   = [fwd_j ; bwd_j]                       bidirectional GRU over source embeddings  [B,S,2H]
    s_0   = tanh(W_s bwd_1)                       bwd_1: the backward RNN's last state        [B,D]
    e_ij  = v_a^T tanh(W_a s_{i-1} + U_a h_j)     U_a h_j computed once per batch ("keys")
    a_ij  = softmax_j(e_ij)                       padding masked out                          [B,S]
    c_i   = sum_j a_ij h_j                                                                    [B,2H]
    s_i   = GRU([E y_{i-1} ; c_i], s_{i-1})
    t_i   = maxout(U_o s_{i-1} + V_o E y_{i-1} + C_o c_i)       pool size 2                  [B,M]
    p(y_i)= softmax(W_o t_i)

Attention is scored with the previous decoder state s_{i-1}: the paper's order. Options that
change the model are explicit (ModelConfig, and the output vocabulary) and never silent:

- output_ids (a constructor argument, from training's output_vocabulary="target"): the output layer
  scores only these target pieces, the specials first; a piece outside them scores as UNK.

- align_head: a second attention b_ij, scored once the target word y_i is known, that only
  guided alignment trains (AlignHead below); the translation never reads it.

- attention="luong_dot" / "luong_general": Luong et al. (2015) order: the RNN first computes
  s_i, attention is scored with s_i (dot product, or s_i^T W h_j), and the readout uses s_i.
- input_feeding: the previous readout t_{i-1} is concatenated to the RNN input.
- cell="lstm", enc_layers / dec_layers > 1, dropout, tie_embeddings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nmt.core.vocab import BOS, EOS, PAD, UNK
from nmt.model import decoder_step, energies
from nmt.model.config import ModelConfig
from nmt.model.decoder_sequence import decoder_sequence
from nmt.model.dropout import Dropout, dropout
from nmt.model.gru_sequence import gru_sequence
from nmt.model.loop_linear import LoopLinears
from nmt.model.native import for_cpu
from nmt.model.output_loss import output_loss

SPECIALS = [PAD, UNK, BOS, EOS]  # the output vocabulary's first rows, so that their ids are its rows too
# (x, weight, bias) -> x @ weight.T + bias: F.linear, or in training's decoder loop LoopLinears
Linear = Callable[..., Tensor]


@dataclass
class Encoded:
    """The encoder's output for a batch, everything attention needs.

    beams: the decoder rows per sentence (beam search's K): decoder row r reads sentence r // beams.
    Beam search keeps one copy of each sentence's annotations rather than K: attention reads them once
    for all of its beams (at 256 rows, 22 MB of annotations and keys a step instead of 110 MB).

    values: where a sentence's beams share it, the decoder's fused step multiplies the annotations by
    the context's weights once (Decoder.fused_step): sum_j a_j (C h_j) = C c_i, so a step's context
    product of K x 2H x (3D+2M) per sentence becomes attention's weighted sum over S of these.
    """

    states: Tensor  # [B,S,2H] annotations h_j
    keys: Tensor  # [B,S,K] h_j projected for scoring (U_a h_j for Bahdanau)
    mask: Tensor  # [B,S] bool, True at real source tokens
    bwd_1: Tensor  # [B,H] the backward RNN's final state, which initialises the decoder
    scratch: list[Tensor] = field(default_factory=list)  # decoding's reused [B*beams,S,A] energies buffer
    beams: int = 1
    values: Tensor | None = None  # [B,S,3D+2M] C h_j, made by the first fused step with beams > 1

    def select(self, idx: Tensor) -> Encoded:
        """Reorder or drop sentences (idx [B'] of sentences; each keeps its beams)."""
        return replace(
            self,
            states=self.states[idx],
            keys=self.keys[idx],
            mask=self.mask[idx],
            bwd_1=self.bwd_1[idx],
            values=None if self.values is None else self.values[idx],
        )

    def energies_buffer(self) -> Tensor:
        """A [B*beams,S,A] tensor for attention's energies, one buffer shared by the selected batches.

        Decoding's steps each need one; made anew, a block this size (8 MB at 160 x 25 x 512) is mapped
        fresh by the C allocator and page-faulted in at every step (fp32 beam search: 1.14x with it).
        """
        numel = self.keys.numel() * self.beams
        if not self.scratch or self.scratch[0].numel() < numel:
            self.scratch[:] = [torch.empty(numel, dtype=self.keys.dtype, device=self.keys.device)]
        return self.scratch[0][:numel].view(-1, *self.keys.shape[1:])


@dataclass
class DecoderState:
    """The recurrent state carried from one decoder step to the next."""

    hidden: Tensor  # [L,B,D]
    cell: Tensor | None = None  # [L,B,D] for LSTM cells
    feed: Tensor | None = None  # [B,M] previous readout t_{i-1} with input feeding

    @property
    def top(self) -> Tensor:
        """The top layer's state s, [B,D]."""
        return self.hidden[-1]

    def select(self, idx: Tensor) -> DecoderState:
        """Reorder or repeat the batch rows (beam search)."""
        return DecoderState(
            self.hidden[:, idx],
            None if self.cell is None else self.cell[:, idx],
            None if self.feed is None else self.feed[idx],
        )


@dataclass
class Forced:
    """A teacher-forced pass: what the output layer and the alignment posterior read."""

    enc: Encoded
    queries: Tensor  # [B,T,D] the readout's state input (s_{i-1} in the paper's order)
    embs: Tensor  # [B,T,E] E y_{i-1}
    contexts: Tensor  # [B,T,2H] c_i
    readouts: Tensor  # [B,T,M] t_i (after dropout)
    attns: Tensor  # [B,T,S] a_i


class Encoder(nn.Module):
    """Bidirectional RNN over source embeddings; packed, so cuDNN runs it on CUDA."""

    def __init__(self, cfg: ModelConfig, embed: nn.Embedding):
        super().__init__()
        self.embed = embed
        rnn = nn.GRU if cfg.cell == "gru" else nn.LSTM
        self.rnn = rnn(
            cfg.emb_dim,
            cfg.enc_hidden,
            num_layers=cfg.enc_layers,
            bidirectional=True,
            batch_first=True,
            dropout=cfg.dropout if cfg.enc_layers > 1 else 0.0,
        )
        self.dropout = Dropout(cfg.dropout)

    def forward(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, Tensor]:
        """Return the annotations h [B,S,2H] and the backward RNN's final state bwd_1 [B,H].

        Training a GRU on a CPU runs nmt.model.gru_sequence, the same RNN with its backward written
        out; otherwise torch's packed RNN (cuDNN on CUDA).
        """
        x = self.dropout(self.embed(src))  # [B,S,E]
        if isinstance(self.rnn, nn.GRU) and x.device.type == "cpu" and torch.is_grad_enabled():
            return self._gru_sequences(x, src_len)
        packed = pack_padded_sequence(x, src_len.cpu(), batch_first=True, enforce_sorted=False)
        out, last = self.rnn(packed)
        states, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))
        h_n = last[0] if isinstance(last, tuple) else last  # [layers*2,B,H]
        return states, h_n[-1]  # [B,S,2H], [B,H]: top layer, backward direction

    def _gru_sequences(self, x: Tensor, src_len: Tensor) -> tuple[Tensor, Tensor]:
        """The packed GRU's result from its parameters (nmt.model.gru_sequence): x [B,S,E] -> [B,S,2H], [B,H].

        The backward direction reads each row's real positions reversed, its padding left at the end.
        """
        lens = src_len.to(x.device).unsqueeze(0)  # [1,B]
        pos = torch.arange(x.size(1), device=x.device).unsqueeze(1)  # [S,1]
        real = pos < lens  # [S,B]
        valid = real.unsqueeze(2)  # [S,B,1]
        reverse = torch.where(real, lens - 1 - pos, pos).unsqueeze(2)  # [S,B,1] a permutation per row
        x = x.transpose(0, 1)  # [S,B,E] time-major
        for layer in range(self.rnn.num_layers):
            if layer:  # between layers, as nn.GRU
                x = dropout(x, self.rnn.dropout, self.training)
            fwd = gru_sequence(x, valid, *self._weights(f"l{layer}"))  # [S,B,H]
            backward = x.gather(0, reverse.expand_as(x))  # [S,B,in]
            bwd = gru_sequence(backward, valid, *self._weights(f"l{layer}_reverse"))  # [S,B,H]
            bwd_1 = bwd[-1]  # [B,H] states stop changing past a row's length
            bwd = bwd.gather(0, reverse.expand_as(bwd))  # back in source order
            x = torch.cat([fwd, bwd], dim=-1) * valid  # [S,B,2H], 0 at padding
        return x.transpose(0, 1).contiguous(), bwd_1

    def _weights(self, suffix: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The RNN's W_i, W_h, b_i, b_h of one layer and direction (nn.GRU's names: l0, l0_reverse, ...)."""
        return tuple(
            getattr(self.rnn, f"{name}_{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        )


class Attention(nn.Module):
    """Scores the annotations against a decoder state: Bahdanau's MLP or Luong's dot/general."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.kind = cfg.attention
        key_dim = 2 * cfg.enc_hidden
        if self.kind == "bahdanau":
            self.key_proj = nn.Linear(key_dim, cfg.attn_dim, bias=False)  # U_a
            self.query_proj = nn.Linear(cfg.dec_hidden, cfg.attn_dim, bias=True)  # W_a
            self.v = nn.Linear(cfg.attn_dim, 1, bias=False)  # v_a
        elif self.kind == "luong_general":
            self.key_proj = nn.Linear(key_dim, cfg.dec_hidden, bias=False)  # W (applied to h_j)
        elif cfg.dec_hidden != key_dim:
            raise ValueError(
                f"luong_dot attention needs dec_hidden == 2 * enc_hidden, got {cfg.dec_hidden} and {key_dim}"
            )

    def keys(self, states: Tensor) -> Tensor:
        """Project the annotations once per batch: [B,S,2H] -> [B,S,K]."""
        return states if self.kind == "luong_dot" else self.key_proj(states)

    def forward(self, query: Tensor, enc: Encoded, linear: Linear = F.linear) -> tuple[Tensor, Tensor]:
        """Return the attention weights a [N,S] and the context c [N,2H] for query s [N,D], N = B * beams."""
        if self.kind == "bahdanau":
            scores = self._energies(linear(query, self.query_proj.weight, self.query_proj.bias), enc)
        else:  # [B,S,K] x [B,K,beams] -> [B,S,beams] -> [N,S]
            scores = torch.bmm(enc.keys, query.view(len(enc.keys), enc.beams, -1).transpose(1, 2))
            scores = scores.transpose(1, 2).masked_fill(~enc.mask.unsqueeze(1), float("-inf")).flatten(0, 1)
        weights = torch.softmax(scores, dim=-1, dtype=_at_least_fp32(scores))  # [N,S]
        weights = weights.to(enc.states.dtype)
        if enc.beams == 1:
            return weights, _Context.apply(weights, enc.states)  # [B,S], [B,2H]
        context = torch.bmm(weights.view(len(enc.states), enc.beams, -1), enc.states)  # [B,beams,2H]
        return weights, context.flatten(0, 1)  # [N,S], [N,2H]

    def _energies(self, projected: Tensor, enc: Encoded) -> Tensor:
        """e_j = v_a^T tanh(W_a s + U_a h_j) [N,S] from W_a s [N,A], -inf at padding (nmt.model.energies:
        on a CPU a kernel that never writes the [N,S,A] block; decoding elsewhere reuses one buffer)."""
        return energies.scores(
            enc.keys, projected, self.v.weight[0], enc.mask, enc.energies_buffer, enc.beams
        )


class AlignHead(nn.Module):
    """Which source word each target word comes from, scored once the word is known.

        q_i  = [s_{i-1} ; c_i ; E y_i]      the readout's state input, the context, the emitted word
        k_j  = [h_j ; E x_j]                the annotation and the source word's embedding
        b_ij = softmax_j(v_b^T tanh(W_b q_i + U_b k_j))

    The paper's a_ij is scored before y_i is known: it predicts where the next word comes from,
    and pulling it toward word links competes with translating. b_ij reads the same states and
    embeddings, detached, and is trained only by guided alignment (Garg et al. 2019's supervised
    alignment head, for this RNN), so the translation's parameters and their gradients are those of
    the model without it.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        ctx_dim = 2 * cfg.enc_hidden
        self.query_proj = nn.Linear(cfg.dec_hidden + ctx_dim + cfg.emb_dim, cfg.attn_dim)  # W_b
        self.key_proj = nn.Linear(ctx_dim + cfg.emb_dim, cfg.attn_dim, bias=False)  # U_b
        self.v = nn.Linear(cfg.attn_dim, 1, bias=False)  # v_b

    def forward(self, forced: Forced, src_embs: Tensor, tgt_embs: Tensor) -> Tensor:
        """b [B,T,S] from a teacher-forced pass, E x [B,S,E] and E y_i [B,T,E] of the emitted words."""
        query = torch.cat([forced.queries, forced.contexts, tgt_embs], dim=-1).detach()  # [B,T,D+2H+E]
        key = torch.cat([forced.enc.states, src_embs], dim=-1).detach()  # [B,S,2H+E]
        hidden = torch.tanh(self.query_proj(query)[:, :, None] + self.key_proj(key)[:, None])  # [B,T,S,A]
        scores = self.v(hidden).squeeze(-1).masked_fill(~forced.enc.mask[:, None], float("-inf"))  # [B,T,S]
        return torch.softmax(scores, dim=-1, dtype=_at_least_fp32(scores))  # [B,T,S]


class Decoder(nn.Module):
    """One step of the conditional RNN decoder and its maxout readout."""

    def __init__(self, cfg: ModelConfig, embed: nn.Embedding):
        super().__init__()
        self.cfg = cfg
        self.embed = embed
        ctx_dim = 2 * cfg.enc_hidden
        self.init_proj = nn.Linear(cfg.enc_hidden, cfg.dec_layers * cfg.dec_hidden)  # W_s
        self.attention = Attention(cfg)
        # The first layer reads E y_{i-1}, plus c_i (Bahdanau order), plus t_{i-1} (input feeding).
        in_dim = cfg.emb_dim
        in_dim += ctx_dim if cfg.attention == "bahdanau" else 0
        in_dim += cfg.maxout_dim if cfg.input_feeding else 0
        cell = nn.GRUCell if cfg.cell == "gru" else nn.LSTMCell
        self.cells = nn.ModuleList(
            cell(in_dim if layer == 0 else cfg.dec_hidden, cfg.dec_hidden) for layer in range(cfg.dec_layers)
        )
        # U_o s + V_o E y + C_o c, as one linear map over the concatenation.
        self.readout = nn.Linear(cfg.dec_hidden + cfg.emb_dim + ctx_dim, 2 * cfg.maxout_dim)
        self.dropout = Dropout(cfg.dropout)

    def init_state(self, enc: Encoded) -> DecoderState:
        """s_0 = tanh(W_s bwd_1) for every layer; LSTM cells start at zero."""
        batch = enc.bwd_1.size(0)
        hidden = torch.tanh(self.init_proj(enc.bwd_1))  # [B,L*D]
        hidden = hidden.view(batch, self.cfg.dec_layers, self.cfg.dec_hidden).transpose(0, 1)
        hidden = hidden.contiguous()  # [L,B,D]
        cell = torch.zeros_like(hidden) if self.cfg.cell == "lstm" else None
        feed = hidden.new_zeros(batch, self.cfg.maxout_dim) if self.cfg.input_feeding else None
        return DecoderState(hidden, cell, feed)

    def _rnn(self, x: Tensor, state: DecoderState, linear: Linear) -> DecoderState:
        """Run the stacked cells one step: x [B,in] and s_{i-1} -> s_i."""
        hiddens, cells = [], []
        for layer, rnn_cell in enumerate(self.cells):
            c = None if state.cell is None else state.cell[layer]
            h, c = cell_step(rnn_cell, x, state.hidden[layer], c, linear)  # [B,D], [B,D] or None
            hiddens.append(h)
            if c is not None:
                cells.append(c)
            x = self.dropout(h) if layer + 1 < len(self.cells) else h
        cell = torch.stack(cells) if cells else None
        return replace(state, hidden=torch.stack(hiddens), cell=cell)

    def embed_inputs(self, y: Tensor) -> Tensor:
        """E y with dropout, for one step's inputs [B] or all steps' [B,T]: [B,E] or [B,T,E]."""
        return self.dropout(self.embed(y))

    def recur(
        self, emb: Tensor, state: DecoderState, enc: Encoded, linear: Linear = F.linear
    ) -> tuple[Tensor, Tensor, DecoderState, Tensor]:
        """The recurrent half of one step: the readout's state input [B,D], c_i [B,2H], s_i, a_i [B,S]."""
        feed = [state.feed] if state.feed is not None else []
        if self.cfg.attention == "bahdanau":
            attn, ctx = self.attention(state.top, enc, linear)  # scored with s_{i-1}
            new = self._rnn(torch.cat([emb, ctx, *feed], dim=-1), state, linear)
            return state.top, ctx, new, attn  # the paper's t_i reads s_{i-1}
        new = self._rnn(torch.cat([emb, *feed], dim=-1), state, linear)
        attn, ctx = self.attention(new.top, enc, linear)  # scored with s_i
        return new.top, ctx, new, attn

    def read(self, query: Tensor, emb: Tensor, ctx: Tensor, linear: Linear = F.linear) -> Tensor:
        """t = maxout(U_o s + V_o E y + C_o c) before dropout, of one step [B,*] or all steps [B,T,*]."""
        pre = linear(
            torch.cat([query, emb, ctx], dim=-1), self.readout.weight, self.readout.bias
        )  # [B,(T,)2M]
        return pre.unflatten(-1, (-1, 2)).amax(dim=-1)  # maxout, pool 2: [B,(T,)M]

    def _is_papers(self) -> bool:
        """Whether this is the paper's decoder (one GRU layer, Bahdanau attention): the fused steps'."""
        cfg = self.cfg
        return cfg.cell == "gru" and cfg.dec_layers == 1 and cfg.attention == "bahdanau"

    def sequence_fused(self, embs: Tensor) -> bool:
        """Whether training's loop over embs runs as nmt.model.decoder_sequence: the paper's one-layer
        GRU decoder with Bahdanau attention, trained on a CPU."""
        return self._is_papers() and embs.device.type == "cpu" and torch.is_grad_enabled()

    def step_fused(self, x: Tensor) -> bool:
        """Whether a decoding step over tensors like x (its embeddings or the batch's keys: their type and
        device) runs as fused_step: the paper's decoder, evaluated (no dropout, no autograd) on a
        CPU where the kernels of nmt.model.native built."""
        no_grad = not self.training and not torch.is_grad_enabled()
        return self._is_papers() and no_grad and for_cpu(x) is not None

    def fused_step(
        self,
        from_embs: Tensor,
        state: DecoderState,
        enc: Encoded,
        stacked: decoder_step.Stacked,
        linear: Linear = F.linear,
    ) -> tuple[Tensor, DecoderState, Tensor]:
        """forward's step (step_fused) from the products of E y_{i-1} from_embs [N,3D+2M] (stacked.e times
        the inputs' embeddings: decoder_step.InputProducts), as two products of the stacked weights
        (stacked_weights), attention's kernel and the GRU-and-readout kernel (nmt.model.decoder_step):
        readout t_i [N,M], s_i, attention a_i [N,S]; N = B * enc.beams. With beams, attention sums
        enc.values (C h_j, made here at the first step) into C c_i, so the context's product runs once a
        sentence rather than once a step and beam."""
        w, s = stacked, state.top  # s_{i-1} [N,D]
        rows, size, attn_dim, maxout = s.size(0), s.size(1), self.cfg.attn_dim, self.cfg.maxout_dim
        ps = linear(s, w.s)  # [N,A+3D+2M]: W_a s, W_h s, U_o s
        q = ps[:, :attn_dim]  # W_a s, which becomes p = W_a s + b_a in place
        if enc.beams > 1 and enc.values is None:  # the beams' shared C h_j, once a decoding call
            enc.values = linear(enc.states.flatten(0, 1), w.c).view(*enc.states.shape[:2], -1)  # [B,S,3D+2M]
        values = enc.states if enc.values is None else enc.values  # [B,S,2H] or [B,S,3D+2M]
        attn = s.new_empty(rows, enc.mask.size(1))  # [N,S]
        read = s.new_empty(rows, values.size(2))  # [N,2H] c_i, or [N,3D+2M] C c_i
        v = self.attention.v.weight[0]
        decoder_step.attend(enc.keys, q, w.b_s[:attn_dim], v, enc.mask, values, q, attn, read, enc.beams)
        pc = read if enc.values is not None else linear(read, w.c)  # C c_i [N,3D+2M]
        feed = linear(state.feed, w.f) if w.f is not None else None  # W_if t_{i-1} [N,3D]
        new, t = s.new_empty(rows, size), s.new_empty(rows, maxout)  # s_i [N,D], t_i [N,M]
        gates = (s.new_empty(rows, 2 * size), s.new_empty(rows, size), s.new_empty(rows, size))  # rz, n, hn
        decoder_step.cell(
            from_embs, ps, w.b_s, pc, w.b_c, feed, s, attn_dim, *gates,
            new, t, torch.empty(rows, maxout, dtype=torch.bool),
        )  # fmt: skip
        return t, DecoderState(new.unsqueeze(0), None, t if self.cfg.input_feeding else None), attn

    def stacked_weights(self) -> decoder_step.Stacked:
        """The paper's decoder's weights stacked as fused_step multiplies them (decoder_step.stack)."""
        attention, cell = self.attention, self.cells[0]
        return decoder_step.stack(
            (attention.query_proj.weight, attention.query_proj.bias),
            (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh),
            (self.readout.weight, self.readout.bias),
            self.cfg.emb_dim,
            2 * self.cfg.enc_hidden,
        )

    def sequence(
        self, embs: Tensor, state: DecoderState, enc: Encoded, dtype: torch.dtype | None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """The teacher-forced loop over embs [B,T,E] (sequence_fused): queries [B,T,D], contexts [B,T,2H],
        attention [B,T,S] and, with input feeding, readouts [B,T,M] before dropout (else None)."""
        attention, cell = self.attention, self.cells[0]
        feeding = self.cfg.input_feeding
        queries, ctxs, attns, readouts = decoder_sequence(
            embs.transpose(0, 1),
            state.top,
            enc.keys,
            enc.states,
            enc.mask,
            (attention.query_proj.weight, attention.query_proj.bias, attention.v.weight[0]),
            (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh),
            (self.readout.weight, self.readout.bias) if feeding else None,
            dtype,
        )  # time-major
        readouts = readouts.transpose(0, 1) if feeding else None
        return queries.transpose(0, 1), ctxs.transpose(0, 1), attns.transpose(0, 1), readouts

    def forward(
        self, emb: Tensor, state: DecoderState, enc: Encoded, linear: Linear = F.linear
    ) -> tuple[Tensor, DecoderState, Tensor]:
        """One step: E y_{i-1} [B,E] and s_{i-1} -> readout t_i [B,M], s_i, attention a_i [B,S]."""
        query, ctx, new, attn = self.recur(emb, state, enc, linear)
        t = self.read(query, emb, ctx, linear)
        if self.cfg.input_feeding:
            new = replace(new, feed=t)
        return self.dropout(t), new, attn


class Seq2Seq(nn.Module):
    """Encoder, attention decoder and output layer W_o."""

    def __init__(self, cfg: ModelConfig, src_vocab: int, tgt_vocab: int, output_ids: Tensor | None = None):
        """`output_ids` [K]: the target pieces the output layer scores (its row r is piece output_ids[r]),
        the special pieces first; None: every piece of the target vocabulary."""
        super().__init__()
        self.cfg = cfg
        self.src_vocab = src_vocab
        self.tgt_vocab = tgt_vocab
        if output_ids is None:
            output_ids = torch.arange(tgt_vocab)
        if output_ids[: len(SPECIALS)].tolist() != SPECIALS:
            raise ValueError(f"the output vocabulary must start with the special pieces {SPECIALS}")
        # Every target piece's output row; pieces outside the output vocabulary score as UNK.
        self.register_buffer("output_ids", output_ids.long())  # [K]
        self.register_buffer("output_rows", torch.empty(tgt_vocab, dtype=torch.long), persistent=False)  # [V]
        self._index_output_rows()
        self.register_load_state_dict_pre_hook(_full_output_vocabulary)
        self.register_load_state_dict_post_hook(lambda module, _: module._index_output_rows())
        src_embed = nn.Embedding(src_vocab, cfg.emb_dim, padding_idx=PAD)
        if cfg.tie_embeddings:
            if src_vocab != tgt_vocab or cfg.emb_dim != cfg.maxout_dim:
                raise ValueError(
                    "tie_embeddings needs one joint vocabulary and emb_dim == maxout_dim, got "
                    f"vocab {src_vocab}/{tgt_vocab}, emb_dim {cfg.emb_dim}, "
                    f"maxout_dim {cfg.maxout_dim}"
                )
            tgt_embed = src_embed
        else:
            tgt_embed = nn.Embedding(tgt_vocab, cfg.emb_dim, padding_idx=PAD)
        self.encoder = Encoder(cfg, src_embed)
        self.decoder = Decoder(cfg, tgt_embed)
        self.output = nn.Linear(cfg.maxout_dim, len(output_ids))  # W_o
        if cfg.tie_embeddings:
            if len(output_ids) != tgt_vocab:
                raise ValueError("tie_embeddings needs the output layer over the whole target vocabulary")
            self.output.weight = tgt_embed.weight
        # Built without drawing from the generator and registered last, so reset_parameters draws every
        # translation parameter as the model without a head does: the same seed trains the same translation.
        with torch.random.fork_rng(devices=[]):
            self.align_head = AlignHead(cfg) if cfg.align_head else None
        self.reset_parameters()

    @classmethod
    def described(cls, meta: dict) -> Seq2Seq:
        """The model a checkpoint's meta or an export's card describes, its weights yet to be loaded."""
        output = torch.arange(meta.get("output_vocab", meta["tgt_vocab"]))  # output_ids come with the weights
        return cls(ModelConfig(**meta["model_config"]), meta["src_vocab"], meta["tgt_vocab"], output)

    def _index_output_rows(self) -> None:
        rows = torch.full((self.tgt_vocab,), UNK, dtype=torch.long, device=self.output_ids.device)
        rows[self.output_ids] = torch.arange(len(self.output_ids), device=rows.device)
        self.output_rows.copy_(rows)

    def reset_parameters(self) -> None:
        """Uniform(-0.1, 0.1) weights (as OpenNMT-py), zero biases, PAD embeddings at zero."""
        for name, param in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(param)
            else:
                nn.init.uniform_(param, -0.1, 0.1)
        with torch.no_grad():
            self.encoder.embed.weight[PAD].zero_()
            self.decoder.embed.weight[PAD].zero_()

    def encode(self, src: Tensor, src_len: Tensor) -> Encoded:
        """Encode a padded source batch src [B,S] with lengths src_len [B]."""
        states, bwd_1 = self.encoder(src, src_len)  # [B,S,2H], [B,H]
        return Encoded(states, self.decoder.attention.keys(states), src != PAD, bwd_1)

    def init_state(self, enc: Encoded) -> DecoderState:
        """The decoder's initial state s_0."""
        return self.decoder.init_state(enc)

    def step(
        self, y_prev: Tensor, state: DecoderState, enc: Encoded, linear: Linear = F.linear
    ) -> tuple[Tensor, DecoderState, Tensor]:
        """One decoding step: logits [B,K] over output_ids, the new state, attention [B,S].

        linear: the step's linear maps (F.linear; nmt.model.bf16_matmul.Linears for bf16 products).
        """
        return self.stepper(linear)(y_prev, state, enc)

    def stepper(self, linear: Linear = F.linear) -> Callable[..., tuple[Tensor, DecoderState, Tensor]]:
        """The step function (as step) of one decoding call, in which the weights do not change: the paper's
        decoder's stacked weights (Decoder.fused_step) are made at its first step and kept for the call, and
        so are the products of the inputs' embeddings (decoder_step.InputProducts). Neither is kept on the
        model: an optimizer may change its weights without a trace (fused Adam leaves their version counters
        as they were)."""
        fused: list[tuple[decoder_step.Stacked, decoder_step.InputProducts]] = []

        def step(y_prev: Tensor, state: DecoderState, enc: Encoded) -> tuple[Tensor, DecoderState, Tensor]:
            if self.decoder.step_fused(enc.keys):  # the E y products come from InputProducts, not E y
                if not fused:
                    w, pieces = self.decoder.stacked_weights(), self.decoder.embed.num_embeddings
                    inputs = decoder_step.InputProducts(self.decoder.embed_inputs, pieces, w.e, linear)
                    fused.append((w, inputs))
                stacked, inputs = fused[0]
                t, state, attn = self.decoder.fused_step(inputs(y_prev), state, enc, stacked, linear)
            else:
                emb = self.decoder.embed_inputs(y_prev)  # [B,E]
                t, state, attn = self.decoder(emb, state, enc, linear)
            return linear(t, self.output.weight, self.output.bias), state, attn

        return step

    def teacher_force(
        self, src: Tensor, src_len: Tensor, tgt_in: Tensor, matmul_dtype: torch.dtype | None = None
    ) -> Forced:
        """Teacher-forced pass over decoder inputs tgt_in [B,T]: every step's readout and attention.

        matmul_dtype: bf16 runs the decoder loop's products in bf16 (nmt.model.bf16_matmul).
        """
        enc = self.encode(src, src_len)
        state = self.init_state(enc)
        # All steps' embeddings at once: one embedding backward, not one dense [V,E] gradient a step.
        embs = self.decoder.embed_inputs(tgt_in)  # [B,T,E]
        if self.decoder.sequence_fused(embs):
            queries, ctxs, attns, t = self.decoder.sequence(embs, state, enc, matmul_dtype)
            t = t if t is not None else self.decoder.read(queries, embs, ctxs)  # [B,T,M]
            return Forced(enc, queries, embs, ctxs, self.decoder.dropout(t), attns)
        linear = LoopLinears(matmul_dtype)  # each decoder weight's gradient: one product over all steps
        queries, ctxs, attns, readouts = [], [], [], []
        for emb in embs.unbind(1):  # [B,E] each; unbind's backward is one stack, not T zero-filled slices
            query, ctx, state, attn = self.decoder.recur(emb, state, enc, linear)  # [B,D], [B,2H], _, [B,S]
            if self.cfg.input_feeding:  # t_{i-1} is an input of step i: the readout stays in the loop
                t = self.decoder.read(query, emb, ctx, linear)  # [B,M]
                state = replace(state, feed=t)
                readouts.append(t)
            queries.append(query)
            ctxs.append(ctx)
            attns.append(attn)
        queries, ctxs = torch.stack(queries, dim=1), torch.stack(ctxs, dim=1)  # [B,T,D], [B,T,2H]
        # Without input feeding the readout feeds nothing back: one product over all steps after the loop.
        t = torch.stack(readouts, dim=1) if readouts else self.decoder.read(queries, embs, ctxs)  # [B,T,M]
        return Forced(enc, queries, embs, ctxs, self.decoder.dropout(t), torch.stack(attns, dim=1))

    def forward(
        self,
        src: Tensor,
        src_len: Tensor,
        tgt_in: Tensor,
        tgt_out: Tensor,
        label_smoothing: float = 0.0,
        align: bool = True,
        matmul_dtype: torch.dtype | None = None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Teacher-forced pass: the summed cross-entropy of the decoder outputs tgt_out [B,T] (PAD
        ignored), attention [B,T,S], and the alignment head's [B,T,S] (None without a head or align).
        matmul_dtype: bf16 runs the decoder loop's and the output layer's products in bf16."""
        forced = self.teacher_force(src, src_len, tgt_in, matmul_dtype)
        readouts = forced.readouts.flatten(0, 1)  # [B*T,M]
        rows = self.output_rows[tgt_out.flatten()]  # [B*T] the output layer's rows of the words
        weight, bias = self.output.weight, self.output.bias
        loss = output_loss(readouts, weight, bias, rows, label_smoothing, dtype=matmul_dtype)
        if not align or self.align_head is None:
            return loss, forced.attns, None
        return loss, forced.attns, self.head_weights(forced, src, tgt_out)

    def logits(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher-forced logits [B,T,K] (K: the output vocabulary) and attention [B,T,S] of tgt_in [B,T]."""
        forced = self.teacher_force(src, src_len, tgt_in)
        return self.output(forced.readouts), forced.attns  # W_o once over all steps

    def head_weights(self, forced: Forced, src: Tensor, tgt_out: Tensor) -> Tensor:
        """The alignment head's b [B,T,S] of the emitted words tgt_out [B,T] (AlignHead)."""
        if self.align_head is None:
            raise ValueError("this model has no alignment head (train it with model.align_head = true)")
        return self.align_head(forced, self.encoder.embed(src), self.decoder.embed(tgt_out))  # [B,T,S]

    def parameter_groups(self) -> list[list[nn.Parameter]]:
        """The translation's parameters, then the alignment head's if any (clipped apart)."""
        head = list(self.align_head.parameters()) if self.align_head is not None else []
        ids = {id(p) for p in head}
        return [p for p in [[p for p in self.parameters() if id(p) not in ids], head] if p]

    def source_posterior(self, forced: Forced, tgt_out: Tensor, max_elements: int = 1 << 24) -> Tensor:
        """p(j | y_i, y_<i, x) [B,T,S]: a_ij times p(y_i) with the context c_i replaced by h_j alone.

        The attention a_ij is scored with s_{i-1}, before y_i is known: a prediction of where the
        next word comes from. Given the word actually emitted (tgt_out [B,T]), Bayes' rule with
        a_ij as the prior and the readout's p(y_i | s_{i-1}, y_{i-1}, c_i = h_j) as the
        likelihood gives which annotation explains it (Shankar et al. 2018's posterior attention;
        the E-step of an IBM-style aligner with the attention as its distortion model).
        `max_elements` bounds the [B,t,S,V] output block computed at once.
        """
        enc = forced.enc
        batch, steps, length = forced.attns.shape
        ctx_dim = enc.states.size(-1)
        no_context = forced.queries.new_zeros(batch, steps, ctx_dim)  # [B,T,2H]
        # U_o s + V_o E y + b, and C_o h_j: the readout's input is linear in the context.
        base = self.decoder.readout(torch.cat([forced.queries, forced.embs, no_context], dim=-1))  # [B,T,2M]
        per_source = enc.states @ self.decoder.readout.weight[:, -ctx_dim:].T  # [B,S,2M]
        chunk = max(1, max_elements // (batch * length * self.output.out_features))  # target steps at once
        loglik = []
        for i in range(0, steps, chunk):
            pre = base[:, i : i + chunk, None, :] + per_source[:, None]  # [B,t,S,2M]
            t = pre.unflatten(-1, (-1, 2)).amax(dim=-1)  # [B,t,S,M]
            logp = torch.log_softmax(self.output(t).float(), dim=-1)  # [B,t,S,V]
            word = self.output_rows[tgt_out[:, i : i + chunk, None, None]]  # [B,t,1,1] rows of the words
            word = word.expand(-1, -1, length, 1)  # [B,t,S,1]
            loglik.append(logp.gather(-1, word).squeeze(-1))  # [B,t,S]
        prior = forced.attns.float().clamp_min(torch.finfo(torch.float32).tiny).log()  # [B,T,S]
        scores = (prior + torch.cat(loglik, dim=1)).masked_fill(~enc.mask[:, None], float("-inf"))
        return torch.softmax(scores, dim=-1)  # [B,T,S]


def cell_step(
    cell: nn.GRUCell | nn.LSTMCell, x: Tensor, h: Tensor, c: Tensor | None, linear: Linear
) -> tuple[Tensor, Tensor | None]:
    """One step of a GRU (c None) or LSTM cell with torch's gate order: x [B,in], h [B,D] -> h', c'."""
    gates_x = linear(x, cell.weight_ih, cell.bias_ih)  # [B,3D] GRU, [B,4D] LSTM
    gates_h = linear(h, cell.weight_hh, cell.bias_hh)
    if c is None:
        x_r, x_z, x_n = gates_x.chunk(3, dim=1)
        h_r, h_z, h_n = gates_h.chunk(3, dim=1)
        reset, update = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        new = torch.tanh(x_n + reset * h_n)  # [B,D]
        return new + update * (h - new), None  # (1 - z) n + z h
    i, f, g, o = (gates_x + gates_h).chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class _Context(torch.autograd.Function):
    """c = sum_j a_j h_j: weights a [B,S], annotations h [B,S,2H] -> [B,2H].

    As bmm, autograd's gradient for h is a [B,S,1] x [B,1,2H] product, an inner dimension of one
    that the matrix libraries run several times slower than the same outer product as a broadcast.
    """

    @staticmethod
    def forward(ctx, weights, states):
        ctx.save_for_backward(weights, states)
        return torch.bmm(weights.unsqueeze(1), states).squeeze(1)  # [B,2H]

    @staticmethod
    def backward(ctx, grad):
        weights, states = ctx.saved_tensors
        grad_weights = torch.bmm(states, grad.unsqueeze(2)).squeeze(2) if ctx.needs_input_grad[0] else None
        grad_states = weights.unsqueeze(2) * grad.unsqueeze(1) if ctx.needs_input_grad[1] else None
        return grad_weights, grad_states  # [B,S], [B,S,2H]


def _full_output_vocabulary(module: Seq2Seq, state: dict, prefix: str, *_) -> None:
    """Checkpoints from before output vocabularies scored every target piece."""
    state.setdefault(prefix + "output_ids", torch.arange(module.tgt_vocab))


def _at_least_fp32(x: Tensor) -> torch.dtype:
    """fp32 for half-precision tensors (softmax and loss stay accurate under autocast), else x's dtype."""
    return torch.promote_types(x.dtype, torch.float32)


def count_parameters(model: nn.Module) -> int:
    """Number of distinct trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
