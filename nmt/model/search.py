"""Decoding: its settings (DecodeConfig), and greedy and beam search over a Seq2Seq, batched over
sentences (and beams) in one tensor. `search` is the one entry point: it takes a padded source
batch (nmt.model.batching.pad_sources) and a DecodeConfig, and dispatches to greedy or beam search.

Conventions (see nmt.core.vocab): `src` [B,S] holds pieces + [EOS] padded with PAD, `src_len` [B]
counts the EOS. Decoding starts from BOS; PAD and BOS are never predicted. A hypothesis stops
at EOS or is forced to emit EOS once it holds `max_len` tokens, so it has at most `max_len`
tokens. Returned tokens exclude BOS and EOS; the attention of a hypothesis has one row per
decoder step (its tokens, then EOS) and one column per source position (pieces, then EOS).

Sentences that finish leave the batch (Encoded.select / DecoderState.select), so a batch costs
as many steps as its longest output, with fewer rows as it goes. They leave in groups: a finished
row stays, writing to a spare slot, until finished rows are a quarter of the batch (_compact), as
each leaving copies the annotations of all the rows that stay.

Beam search keeps K live hypotheses per sentence in B*K rows. Each step takes the best 2K
continuations of a sentence; those ending in EOS among the first K finish, the best K others
live on. A sentence is done once K hypotheses have finished (as fairseq does), or at its length
limit. Finished hypotheses are ranked by the GNMT length-normalised score
log p(y|x) / lp(y), lp(y) = ((5 + |y|) / 6) ** alpha, where |y| counts the EOS
(Wu et al., 2016). With K = 1 this is exactly greedy search.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor

from nmt.core.vocab import BOS, EOS, PAD
from nmt.model import bf16_matmul
from nmt.model.bahdanau import Linear, Seq2Seq
from nmt.model.native import for_cpu


class DecodeConfig(BaseModel):
    """How to decode: beam, length penalty, output length limit, batch budget, n-best.

    The defaults here are the only ones: translate, evaluate, forced alignment, retrain, the CLI
    and the flows all read them from this class.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    beam: int = Field(5, ge=1, description="beam size; 1 is greedy search")
    alpha: float = Field(0.6, ge=0.0, description="GNMT length penalty exponent (beam search)")
    max_len_a: float = Field(1.5, ge=0.0, description="output limit: a * source tokens (EOS included) + b")
    max_len_b: int = Field(10, ge=0, description="output limit: a * source tokens (EOS included) + b")
    batch_tokens: int = Field(
        4000,
        gt=0,
        description="padded tokens per batch: rows x longest row, a row being one beam of one sentence "
        "(search: its source with EOS; forced decoding: the longer of source and target)",
    )
    n_best: int = Field(1, ge=1, description="hypotheses kept per sentence, best first; at most beam")
    bf16: bool = Field(
        False,
        description="the decoder's and output layer's products in bfloat16, the rest fp32 "
        "(nmt.model.bf16_matmul: faster on CPUs with AMX and on GPUs, slower on other CPUs)",
    )

    @model_validator(mode="after")
    def _n_best_within_beam(self) -> DecodeConfig:
        if self.n_best > self.beam:
            raise ValueError(f"n_best must be in 1..beam, got n_best={self.n_best}, beam={self.beam}")
        return self

    def source_budget(self) -> int:
        """Padded source tokens per batch, each sentence counted once: batch_tokens shared by its beams."""
        return self.batch_tokens // self.beam


DECODE_DEFAULTS = DecodeConfig()


def nest_decoding(data: Any) -> Any:
    """Move flat decoding settings (`beam=5`, as CLI options and flow parameters give them) into `decode`.

    Used as a `model_validator(mode="before")` by the configs that embed a DecodeConfig.
    """
    if not isinstance(data, dict):
        return data
    flat = {k: data[k] for k in DecodeConfig.model_fields if k in data}
    if not flat:
        return data
    nested = data.get("decode", {})
    if isinstance(nested, DecodeConfig):
        nested = nested.model_dump(exclude_unset=True)
    rest = {k: v for k, v in data.items() if k not in flat}
    return {**rest, "decode": {**nested, **flat}}


@dataclass
class Hypothesis:
    """One output: tokens without BOS/EOS, its score and its attention."""

    tokens: list[int]
    score: float  # ranking score: log-probability / GNMT length penalty (= logprob for greedy)
    attention: np.ndarray  # float32 [len(tokens)+1, src_len]: rows include EOS, columns too
    logprob: float = field(default=0.0)  # log p(tokens + EOS | source)


def length_limit(
    src_len: Tensor, a: float = DECODE_DEFAULTS.max_len_a, b: int = DECODE_DEFAULTS.max_len_b
) -> Tensor:
    """Maximum output length per sentence: floor(a * src_len + b), src_len [B] with EOS."""
    return (src_len.float() * a + b).floor().long()  # [B]


def length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty ((5 + length) / 6) ** alpha."""
    return ((5.0 + length) / 6.0) ** alpha


def _limits(max_len: int | Tensor, batch: int, device: torch.device) -> Tensor:
    if isinstance(max_len, Tensor):
        return max_len.to(device=device, dtype=torch.long).expand(batch)  # [B]
    return torch.full((batch,), int(max_len), dtype=torch.long, device=device)  # [B]


_BANNED = torch.tensor([PAD, BOS])  # columns never chosen (the special pieces are their own columns)


def _best_next(logits: Tensor, force_eos: Tensor, n: int, ids: Tensor) -> tuple[Tensor, Tensor]:
    """The n best next tokens of each row of logits [N,K] over the pieces ids [K], and their
    log-probabilities: [N,n] each.

    PAD and BOS are banned (the special pieces are their own columns), and rows where force_eos [N]
    may only end (EOS, then -inf). The log-softmax is monotonic within a row, so the best tokens are
    the best logits, and only those n get the row's log-normaliser subtracted: no [N,K]
    log-probability tensor is written. Best first; for n=1 (greedy) a max.
    """
    native = for_cpu(logits)
    if native is not None:  # csrc/best_next.cpp: the same choice in one pass a row
        best, columns = native.best_next(logits.contiguous(), force_eos.contiguous(), n, _BANNED, EOS)
        return best, ids[columns]
    scores = logits.float()  # [N,K]
    norm = torch.logsumexp(scores, dim=-1, keepdim=True)  # [N,1] over the whole output vocabulary
    scores[:, PAD] = float("-inf")  # in place: the logits are not read again
    scores[:, BOS] = float("-inf")
    if bool(force_eos.any()):
        eos = scores[:, EOS].clone()  # [N]
        scores[force_eos] = float("-inf")
        scores[:, EOS] = torch.where(force_eos, eos, scores[:, EOS])
    best, columns = scores.max(dim=-1, keepdim=True) if n == 1 else scores.topk(n, dim=-1)  # [N,n]
    return best - norm, ids[columns]


def _limits_with_spare(limit: Tensor) -> Tensor:
    """limit [B] and one spare slot (index B) that never reaches its limit: where finished rows write."""
    return torch.cat([limit, limit.new_full((1,), torch.iinfo(limit.dtype).max)])  # [B+1]


def _compact(finished: int, rows: int) -> bool:
    """Whether to drop finished rows from the batch now: once they are a quarter of it.

    Dropping copies the annotations and keys of every remaining row ([b,S,2H] and [b,S,A]); a
    finished row left in the batch costs its share of the next steps instead. Measured on Multi30k
    test2016: dropping at every finish took 8% of greedy and 6% of beam search time; with this
    policy greedy is 2-7% and beam 5 2-5% faster, with the same translations.
    """
    return finished * 4 >= rows


@torch.inference_mode()
def greedy(
    model: Seq2Seq, src: Tensor, src_len: Tensor, max_len: int | Tensor, linear: Linear = F.linear
) -> list[list[Hypothesis]]:
    """Greedy decoding of a batch; one hypothesis per sentence (linear: the steps' linear maps).

    A finished row stays in the batch, writing to a spare slot (index B), until _compact drops it.
    """
    batch, src_max = src.shape
    device = src.device
    limit = _limits_with_spare(_limits(max_len, batch, device))  # [B+1]
    steps = int(limit[:batch].max()) + 1
    enc = model.encode(src, src_len)
    step = model.stepper(linear)
    state = model.init_state(enc)
    rows = torch.arange(batch, device=device)  # [b] sentence of each row; `batch` once it has finished
    y = torch.full((batch,), BOS, dtype=torch.long, device=device)  # [b]
    logprob = torch.zeros(batch + 1, device=device)  # [B+1]
    out_tok = torch.zeros(batch + 1, steps, dtype=torch.long, device=device)  # [B+1,T]
    out_attn = torch.zeros(batch + 1, steps, src_max, device=device)  # [B+1,T,S]
    length = torch.zeros(batch + 1, dtype=torch.long, device=device)  # [B+1] tokens before EOS
    live, spent = batch, 0  # sentences still decoding; finished rows still in the batch
    for t in range(steps):
        logits, state, attn = step(y, state, enc)  # [b,V_out] over output_ids, _, [b,S]
        best, y = _best_next(logits, limit[rows] == t, 1, model.output_ids)  # [b,1] each
        best, y = best.squeeze(1), y.squeeze(1)  # [b]
        logprob[rows] += best
        out_tok[rows, t] = y
        out_attn[rows, t] = attn.float()
        ended = (y == EOS) & (rows < batch)  # [b]
        if bool(ended.any()):
            length[rows[ended]] = t
            count = int(ended.sum())
            live, spent = live - count, spent + count
            if live == 0:
                break
            rows = rows.masked_fill(ended, batch)
            if _compact(spent, rows.numel()):
                keep = (rows < batch).nonzero().squeeze(1)  # [b']
                rows, y, spent = rows[keep], y[keep], 0
                state, enc = state.select(keep), enc.select(keep)
    length_l, logprob_l, src_len_l = length.tolist(), logprob.tolist(), src_len.tolist()
    out_tok, out_attn = out_tok.cpu(), out_attn.cpu()
    return [
        [
            Hypothesis(
                out_tok[b, : length_l[b]].tolist(),
                logprob_l[b],
                out_attn[b, : length_l[b] + 1, : src_len_l[b]].numpy().copy(),
                logprob_l[b],
            )
        ]
        for b in range(batch)
    ]


@torch.inference_mode()
def beam_search(
    model: Seq2Seq,
    src: Tensor,
    src_len: Tensor,
    beam: int,
    max_len: int | Tensor,
    alpha: float = DECODE_DEFAULTS.alpha,
    n_best: int = 1,
    linear: Linear = F.linear,
) -> list[list[Hypothesis]]:
    """Beam search over B sentences x K beams in one batch; n_best hypotheses per sentence, best first
    (linear: the steps' linear maps). A finished sentence's beams stay in the batch, as the spare
    sentence B that finishes nothing, until _compact drops them."""
    if not 1 <= n_best <= beam:
        raise ValueError(f"n_best must be in 1..beam, got n_best={n_best}, beam={beam}")
    k = beam
    batch, src_max = src.shape
    device = src.device
    limit = _limits_with_spare(_limits(max_len, batch, device))  # [B+1]
    steps = int(limit[:batch].max()) + 1
    rows = torch.arange(batch, device=device)  # [b] sentence of each sentence slot; `batch` once done
    enc = model.encode(src, src_len)  # [B,...]: each sentence's annotations, read by its K beams
    step = model.stepper(linear)
    # A sentence's K beams start alike: the first step runs once a sentence, and its beams copy it.
    state = model.init_state(enc)  # [B,...] until the first step, then [B*K,...]
    y = torch.full((batch,), BOS, dtype=torch.long, device=device)  # [B], then [b*K]
    alive = torch.full((batch, k), float("-inf"), device=device)  # [b,K] log p of live beams
    alive[:, 0] = 0.0  # at the start only one beam per sentence is distinct
    hist_tok = torch.zeros(batch * k, 0, dtype=torch.long, device=device)  # [b*K,t]
    hist_attn = torch.zeros(batch * k, 0, src_max, device=device)  # [b*K,t,S]
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    n_finished = torch.zeros(batch + 1, dtype=torch.long, device=device)  # [B+1]
    live, spent = batch, 0  # sentences still decoding; done sentences still in the batch
    src_len_l = src_len.tolist()
    rank = torch.arange(2 * k, device=device)  # [2K]
    for t in range(steps):
        logits, state, attn = step(y, state, enc)  # [b*K,V_out] over output_ids, _, [b*K,S]
        if t == 0:  # [B,...] -> [B*K,...]
            beams = rows.repeat_interleave(k)  # [B*K]
            logits, state, attn, enc = logits[beams], state.select(beams), attn[beams], replace(enc, beams=k)
        n = rows.numel()
        at_limit = limit[rows] == t  # [b]
        # A sentence's best 2K continuations are among each beam's best 2K next tokens.
        width = min(2 * k, logits.size(-1))  # 2K (or the whole output vocabulary, if smaller)
        next_lp, next_tok = _best_next(logits, at_limit.repeat_interleave(k), width, model.output_ids)
        cand = (alive.view(-1, 1) + next_lp).view(n, k * width)  # [b,K*2K]
        top_v, top_i = cand.topk(2 * k, dim=-1)  # [b,2K] best first
        origin = torch.div(top_i, width, rounding_mode="floor")  # [b,2K] beam it extends
        tok = next_tok.view(n, k * width).gather(1, top_i)  # [b,2K]
        is_eos = tok == EOS  # [b,2K]
        ends = is_eos & (rank < k) & torch.isfinite(top_v) & (rows < batch).unsqueeze(1)  # [b,2K]
        parent_all = origin + (torch.arange(n, device=device) * k).unsqueeze(1)  # [b,2K] rows
        if bool(ends.any()):
            n_finished[rows] += ends.sum(dim=1)
            slots, js = ends.nonzero().unbind(1)  # [f] each, sentence-major as they rank
            parents = parent_all[slots, js]  # [f]
            atts = torch.cat([hist_attn[parents], attn[parents].float().unsqueeze(1)], dim=1)  # [f,t+1,S]
            ended = zip(
                rows[slots].tolist(), hist_tok[parents].tolist(), top_v[slots, js].tolist(), strict=True
            )
            for (sent, tokens, lp), att in zip(ended, atts.cpu().numpy(), strict=True):
                score = lp / length_penalty(len(tokens) + 1, alpha)
                finished[sent].append(Hypothesis(tokens, score, att[:, : src_len_l[sent]].copy(), lp))
        # The best K continuations that do not end here live on.
        alive, pick = top_v.masked_fill(is_eos, float("-inf")).topk(k, dim=-1)  # [b,K]
        parent = parent_all.gather(1, pick).view(-1)  # [b*K]
        y = tok.gather(1, pick).view(-1)  # [b*K]
        hist_tok = torch.cat([hist_tok[parent], y.unsqueeze(1)], dim=1)  # [b*K,t+1]
        hist_attn = torch.cat([hist_attn[parent], attn[parent].float().unsqueeze(1)], dim=1)
        state = state.select(parent)
        done = (n_finished[rows] >= k) | at_limit  # [b] done at this step (never the spare: it ends nothing)
        if bool(done.any()):
            count = int(done.sum())
            live, spent = live - count, spent + count
            if live == 0:
                break
            rows = rows.masked_fill(done, batch)
            if _compact(spent, rows.numel()):
                keep = (rows < batch).nonzero().squeeze(1)  # [b']
                keep_rows = (keep.unsqueeze(1) * k + torch.arange(k, device=device)).view(-1)  # [b'*K]
                rows, alive, spent = rows[keep], alive[keep], 0
                y, hist_tok, hist_attn = y[keep_rows], hist_tok[keep_rows], hist_attn[keep_rows]
                state, enc = state.select(keep_rows), enc.select(keep)
    out = []
    for hyps in finished:
        hyps.sort(key=lambda h: h.score, reverse=True)  # stable: earlier (shorter) first on ties
        out.append(hyps[:n_best])
    return out


def search(model: Seq2Seq, src: Tensor, src_len: Tensor, cfg: DecodeConfig) -> list[list[Hypothesis]]:
    """Decode a padded source batch (src [B,S], src_len [B] with EOS): greedy at beam 1, else beam search."""
    limit = length_limit(src_len, cfg.max_len_a, cfg.max_len_b)  # [B]
    linear = bf16_matmul.Linears() if cfg.bf16 else F.linear
    if cfg.beam == 1:
        return greedy(model, src, src_len, limit, linear)
    return beam_search(model, src, src_len, cfg.beam, limit, cfg.alpha, cfg.n_best, linear)
