"""One step of training's fused decoder loop (nmt.model.decoder_sequence) between its products, forward
and backward: the kernels of nmt.model.native, or the same equations in torch's ops.

Each function writes into the tensors it is given (a step's rows of the loop's stores). The products of
s_{i-1} and c_i come in without their biases, which are added here:

    attend:  p = q + b_a,  a = softmax(v^T tanh(keys + p)),  c = sum_j a_j h_j
    cell:    the GRU from g_x (E y part + W_ic c + b_i (+ W_if t_{i-1})) and g_h (W_h s_{i-1} + b_h), and
             the maxout readout t_i with input feeding (M > 0; M = 0 without)

torch runs a step as about 40 ops forward and 45 backward, each with its own dispatch and pass over
memory; the kernels (csrc/attention_energies.cpp, csrc/decoder_cell.cpp) make two calls each way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.model import energies
from nmt.model.gru_sequence import gru_gate_gradients, gru_gates
from nmt.model.native import for_cpu


@dataclass(frozen=True)
class Stacked:
    """The step's weights stacked by what they multiply, so that each input is one product a step."""

    s: Tensor  # [A+3D(+2M),D]: W_a; W_h; U_o, the products of s_{i-1}
    b_s: Tensor  # [A+3D(+2M)]: b_a; b_h; 0
    c: Tensor  # [3D(+2M),2H]: W_ic; C_o, the products of c_i
    b_c: Tensor  # [3D(+2M)]: b_i; b_o
    e: Tensor  # [3D(+2M),E]: W_ie; V_o, the products of E y_{i-1}
    f: Tensor | None  # [3D,M]: W_if, the product of t_{i-1} with input feeding


def stack(
    attn_weights: tuple[Tensor, Tensor],
    gru_weights: tuple[Tensor, Tensor, Tensor, Tensor],
    readout: tuple[Tensor, Tensor] | None,
    emb_dim: int,
    ctx_dim: int,
) -> Stacked:
    """Stacked from W_a, b_a; W_i [3D,E+2H(+M)], W_h, b_i, b_h; readout (W [2M,D+E+2H], b), or None where the
    readout runs outside the step (training without input feeding); E = emb_dim, 2H = ctx_dim."""
    (w_a, b_a), (w_ih, w_hh, b_ih, b_hh) = attn_weights, gru_weights
    size = w_hh.size(1)  # D
    read_s = read_e = read_c = read_b = []  # the readout's parts, where it runs in the step
    if readout is not None:
        w_read, b_read = readout
        read_s, read_e = [w_read[:, :size]], [w_read[:, size : size + emb_dim]]
        read_c, read_b = [w_read[:, -ctx_dim:]], [b_read]
    return Stacked(
        s=torch.cat([w_a, w_hh, *read_s]),
        b_s=torch.cat([b_a, b_hh, *[b_a.new_zeros(len(b)) for b in read_b]]),
        c=torch.cat([w_ih[:, emb_dim : emb_dim + ctx_dim], *read_c]),
        b_c=torch.cat([b_ih, *read_b]),
        e=torch.cat([w_ih[:, :emb_dim], *read_e]),
        f=w_ih[:, emb_dim + ctx_dim :] if w_ih.size(1) > emb_dim + ctx_dim else None,
    )


class InputProducts:
    """A decoding call's products of E y_{i-1} (Stacked.e), each input piece's made the first time it is
    an input and kept for the call. test2016 greedy makes them for 2,628 of its 15,642 rows, beam 5 for
    9,248 of 76,935 (beam 5 fp32: 1.05-1.09x). The table has a row for every piece but only the rows
    used are written, so only they take memory (8 KB each for `base`); the rest is address space (65 MB
    for `base` over 8,000 pieces). A table grown by doubling instead held 9 MB more at greedy's peak."""

    def __init__(self, embed: Callable[[Tensor], Tensor], pieces: int, weight: Tensor, linear) -> None:
        """embed: pieces [m] -> E y [m,E]; pieces: the target vocabulary's size; weight: Stacked.e."""
        self.embed, self.weight, self.linear = embed, weight, linear
        self.row = torch.full((pieces,), -1, dtype=torch.long, device=weight.device)  # [V] piece -> row
        self.table = weight.new_empty(pieces, weight.size(0))  # [V,3D(+2M)], rows in order of first use
        self.used = 0  # rows written

    def __call__(self, y: Tensor) -> Tensor:
        """The products of E y for the input pieces y [N]: [N,3D(+2M)]."""
        rows = self.row[y]  # [N]
        unseen = rows < 0
        if bool(unseen.any()):
            new = y[unseen].unique()  # [m]
            start, self.used = self.used, self.used + new.numel()
            self.row[new] = torch.arange(start, self.used, device=y.device)
            self.table[start : self.used] = self.linear(self.embed(new), self.weight)
            rows = self.row[y]
        return self.table[rows]


def attend(
    keys: Tensor,
    q: Tensor,
    b_a: Tensor,
    v: Tensor,
    mask: Tensor,
    states: Tensor,
    p: Tensor,
    attn: Tensor,
    ctx: Tensor,
    beams: int = 1,
) -> None:
    """From q = W_a s_{i-1} [N,A]: p = q + b_a into p [N,A] (which may be q), the weights into attn [N,S]
    (0 at padding) and the context into ctx [N,2H]; keys [B,S,A], states [B,S,2H], mask [B,S] (True at
    real tokens), row r of N = B * beams reading sentence r // beams."""
    native = for_cpu(keys)
    if native is not None:
        native.attend(keys, q, b_a, v, mask, states, beams, p, attn, ctx)
        return
    torch.add(q, b_a, out=p)
    attn.copy_(torch.softmax(energies.scores_torch(keys, p, v, mask, None, beams), dim=-1))
    batch, length, ctx_dim = states.shape  # B, S, 2H
    ctx.view(batch, beams, ctx_dim).copy_(torch.bmm(attn.view(batch, beams, length), states))


def attend_backward(
    g_ctx_part: Tensor,
    g_ctx_in: Tensor,
    g_attn_in: Tensor,
    attn: Tensor,
    states: Tensor,
    keys: Tensor,
    p: Tensor,
    v: Tensor,
    mask: Tensor,
    g_ctx: Tensor,
    g_keys: Tensor,
    g_p: Tensor,
    g_v: Tensor,
) -> None:
    """attend's backward from dL/dc = g_ctx_part + g_ctx_in [B,2H] and dL/da g_attn_in [B,S]: dL/dc into
    g_ctx, dL/dp into g_p [B,A]; dL/dkeys and dL/dv added into g_keys and g_v (dL/dh is the caller's)."""
    native = for_cpu(keys)
    if native is not None:
        native.attend_backward(
            g_ctx_part, g_ctx_in, g_attn_in, attn, states, keys, p, v, mask, g_ctx, g_keys, g_p, g_v
        )
        return
    g_c = torch.add(g_ctx_part, g_ctx_in, out=g_ctx)  # [B,2H]
    g_a = torch.bmm(states, g_c.unsqueeze(2)).squeeze(2).add_(g_attn_in)  # [B,S]
    g_scores = attn * (g_a - (attn * g_a).sum(-1, keepdim=True))  # [B,S], 0 at padding
    energies.backward_torch(g_scores, keys, p, v, mask, g_keys, g_p, g_v)


def cell(
    from_embs: Tensor,
    ps: Tensor,
    b_s: Tensor,
    pc: Tensor,
    b_c: Tensor,
    feed: Tensor | None,
    s: Tensor,
    attn: int,
    reset_update: Tensor,
    new: Tensor,
    hidden_n: Tensor,
    s_next: Tensor,
    readout: Tensor,
    pick: Tensor,
) -> None:
    """The GRU and readout of a step from the E y products from_embs [B,3D+2M], the products of s_{i-1} ps
    [B,A+3D+2M] (read from column A = attn) and of c pc [B,3D+2M], their biases b_s and b_c, and feed
    (W_if t_{i-1} [B,3D] or None): r, z into reset_update [B,2D], n into new, W_hn s + b_hn into hidden_n,
    s_i into s_next [B,D]; t_i into readout [B,M] and maxout's picks into pick [B,M] (M = 0: none)."""
    native = for_cpu(s)
    if native is not None:
        feed = s.new_empty(0) if feed is None else feed
        native.decoder_cell(
            from_embs, ps, b_s, pc, b_c, feed, s, attn, reset_update, new, hidden_n, s_next, readout, pick
        )
        return
    size, maxout = s.size(1), readout.size(1)  # D, M
    from_s = ps[:, attn:] + b_s[attn:]  # [B,3D+2M]
    from_c = pc + b_c  # [B,3D+2M]
    gx = from_embs[:, : 3 * size] + from_c[:, : 3 * size]  # [B,3D]
    if feed is not None:
        gx += feed
    gh = from_s[:, : 3 * size]  # [B,3D]
    hidden_n.copy_(gh[:, 2 * size :])
    s_next.copy_(gru_gates(gx, gh, s, reset_update, new))
    if maxout:
        pair = (from_embs[:, 3 * size :] + from_s[:, 3 * size :] + from_c[:, 3 * size :]).view(-1, maxout, 2)
        second = torch.gt(pair[..., 1], pair[..., 0], out=pick)  # [B,M]
        torch.where(second, pair[..., 1], pair[..., 0], out=readout)


def cell_backward(
    g_s: Tensor,
    g_query: Tensor,
    s_prev: Tensor,
    reset_update: Tensor,
    new: Tensor,
    hidden_n: Tensor,
    g_readout: Tensor,
    g_t: Tensor,
    pick: Tensor,
    attn: int,
    gc: Tensor,
    gs: Tensor,
    g_prev: Tensor,
) -> None:
    """cell's backward from dL/ds_i g_s [B,D] and dL/dt_i = g_readout + g_t [B,M]: the gradients of the
    products of c into gc [B,3D+2M] and of s_{i-1} into gs [B,A+3D+2M] from column A = attn, and
    dL/ds_{i-1}'s direct part, g_query + g_s z, into g_prev [B,D]."""
    native = for_cpu(g_s)
    if native is not None:
        native.decoder_cell_backward(
            g_s, g_query, s_prev, reset_update, new, hidden_n, g_readout, g_t, pick, attn, gc, gs, g_prev
        )
        return
    size, maxout = g_s.size(1), g_readout.size(1)  # D, M
    gh = gs[:, attn : attn + 3 * size]  # [B,3D]
    gru_gate_gradients(g_s, s_prev, reset_update, new, hidden_n, gc[:, : 3 * size], gh)
    torch.add(g_query, g_s * reset_update[:, size:], out=g_prev)
    if maxout:  # the gradient goes to each pair's larger value
        g_pre = g_readout + g_t  # [B,M]
        pair = gs[:, attn + 3 * size :].view(-1, maxout, 2)
        torch.mul(g_pre, pick, out=pair[..., 1])
        torch.sub(g_pre, pair[..., 1], out=pair[..., 0])
        gc[:, 3 * size :] = gs[:, attn + 3 * size :]
