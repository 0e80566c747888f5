"""The Bahdanau decoder's teacher-forced loop with its backward written out: the CPU training path.

Run step by step under autograd, each target position of a batch records about 55 small ops and
five Python-level autograd functions, and backward replays about 80 more, each 20-60 us on a CPU:
the loop was 60% of a training step and bound by that overhead, not by arithmetic (measured on
`base`, B=90: about 40 us an op on average). Here the forward runs the same equations outside autograd,
keeping each step's values but not attention's [B,S,A] block tanh(keys + p), which the attention
kernel computes again in backward, and backward runs the recurrence back. Between its products a step
is two calls each way, attention and the GRU-and-readout (nmt.model.decoder_step):

    p     = W_a s_{i-1} + b_a                           [B,A]   \\
    g_h   = W_h s_{i-1} + b_h                           [B,3D]   } one product of s_{i-1} a step
    o_s   = U_o s_{i-1}                                 [B,2M]  /   (o_s with input feeding)
    a_i   = softmax_j(v^T tanh(keys_j + p))             [B,S]
    c_i   = sum_j a_ij h_j                              [B,2H]
    g_x   = W_ie E y_{i-1} + b_i + W_ic c_i + W_if t_{i-1}      the E y part for all steps at once
    s_i   = GRU(g_x, g_h, s_{i-1})                      torch's gate order r, z, n
    t_i   = maxout(o_s + V_o E y_{i-1} + C_o c_i + b_o)         with input feeding: t_i feeds step i+1

Every weight's gradient is one product over all steps (as nmt.model.loop_linear), and the
annotations' gradient one batched product of the attention weights and the contexts' gradients.
With a dtype (bf16 on CPUs with bf16 matrix units), every product's operands are rounded to it
(nmt.model.bf16_matmul); the states, gates, softmax and gradients stay fp32.
"""

from __future__ import annotations

import torch
from torch import Tensor

from nmt.model import bf16_matmul, decoder_step


def decoder_sequence(
    embs: Tensor,
    s0: Tensor,
    keys: Tensor,
    states: Tensor,
    mask: Tensor,
    attn_weights: tuple[Tensor, Tensor, Tensor],
    gru_weights: tuple[Tensor, Tensor, Tensor, Tensor],
    readout: tuple[Tensor, Tensor] | None,
    dtype: torch.dtype | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Queries s_{i-1} [T,B,D], contexts [T,B,2H], attention [T,B,S] and readouts t [T,B,M] (empty
    without input feeding) of the teacher-forced loop over E y_{i-1} embs [T,B,E] from s_0 [B,D].

    keys [B,S,A] (U_a h), states [B,S,2H] (h), mask [B,S] (True at real tokens); attn_weights: W_a,
    b_a, v [A]; gru_weights: W_i [3D,E+2H(+M)], W_h, b_i, b_h; readout: W [2M,D+E+2H], b with input
    feeding, else None (the readout then runs after the loop). dtype: the products' operand type.
    """
    w_read, b_read = readout if readout is not None else (None, None)
    return _DecoderSequence.apply(
        embs, s0, keys, states, mask, *attn_weights, *gru_weights, w_read, b_read, dtype
    )


class _Products:
    """The products of one pass, each weight cast once: fp32, or bf16 operands (bf16_matmul)."""

    def __init__(self, dtype: torch.dtype | None):
        self.dtype = dtype

    def weight(self, w: Tensor) -> Tensor:
        """w as the products read it."""
        return w if self.dtype is None else w.to(self.dtype)

    def mm(self, a: Tensor, b: Tensor) -> Tensor:
        """a [n,k] @ b [k,m] (b from weight()): fp32 [n,m]."""
        return a @ b if self.dtype is None else bf16_matmul.mm(a, b)

    def rows(self, n: int) -> int:
        """Rows of n rows' operands: padded for bf16 products (bf16_matmul.ROWS), so none is copied to pad."""
        return n if self.dtype is None else n + -n % bf16_matmul.ROWS

    def store(self, n: int, width: int, like: Tensor) -> Tensor:
        """An uninitialised [rows(n), width] store of n rows of products' operands, its padding rows zero."""
        out = like.new_empty(self.rows(n), width, dtype=self.dtype or like.dtype)
        out[n:].zero_()
        return out

    def operand(self, x: Tensor) -> Tensor:
        """x [n,k] as a weight's gradient reads it: itself, or cast to bf16 with its rows padded."""
        return x if self.dtype is None else bf16_matmul.pad_rows(x, dtype=self.dtype)

    def mm_tn(self, a: Tensor, b: Tensor) -> Tensor:
        """a [n,k].T @ b [n,m], a sum over n rows (a weight's gradient): fp32 [k,m]."""
        return a.t() @ b if self.dtype is None else bf16_matmul.mm_tn(a, b, self.dtype)


class _DecoderSequence(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, embs, s0, keys, states, mask, w_a, b_a, v, w_ih, w_hh, b_ih, b_hh, w_read, b_read, dtype
    ):
        steps, batch, emb_dim = embs.shape
        size, attn, ctx_dim = w_hh.size(1), w_a.size(0), states.size(2)  # D, A, 2H
        feeding = w_read is not None
        maxout = w_read.size(0) // 2 if feeding else 0  # M
        prod = _Products(dtype)
        # The products of s_{i-1} (W_a; W_h; U_o), of c_i (W_ic; C_o) and of E y (W_ie; V_o), each stacked
        # into one, with every bias: b_a, b_h with the first, b_i, b_o with the second.
        readout = (w_read, b_read) if feeding else None
        w = decoder_step.stack((w_a, b_a), (w_ih, w_hh, b_ih, b_hh), readout, emb_dim, ctx_dim)
        b_s, b_c = w.b_s, w.b_c
        low_s, low_c = prod.weight(w.s.t()), prod.weight(w.c.t())  # [D,A+3D(+2M)], [2H,3D(+2M)]
        low_f = prod.weight(w.f.t()) if feeding else None  # W_if^T [M,3D]
        flat_embs = embs.reshape(steps * batch, emb_dim)  # [T*B,E]
        # The E y parts of every step at once, W_ie E y [T,B,3D] and V_o E y [T,B,2M], kept in the products'
        # type: a bf16 product's result is rounded to bf16 anyway, and casting it would copy [T*B,3D+2M].
        low_e = prod.weight(w.e)  # [3D(+2M),E]
        from_embs = (prod.operand(flat_embs) @ low_e.t())[: steps * batch].view(steps, batch, -1)

        queries = embs.new_empty(steps + 1, batch, size)  # s_0 .. s_T
        queries[0] = s0
        ctxs = embs.new_empty(steps, batch, ctx_dim)
        attns = embs.new_empty(steps, batch, states.size(1))
        projected = embs.new_empty(steps, batch, attn)  # p = W_a s_{i-1} + b_a: backward recomputes h from it
        hidden_n = embs.new_empty(steps, batch, size)  # W_hn s_{i-1} + b_hn, for the reset gate's gradient
        reset_update = embs.new_empty(steps, batch, 2 * size)  # r, z
        new = embs.new_empty(steps, batch, size)  # n
        readouts = embs.new_empty(steps, batch, maxout)  # t_i
        seconds = torch.empty(steps, batch, maxout, dtype=torch.bool, device=embs.device)  # maxout's pick
        for i in range(steps):
            s = queries[i]  # [B,D]
            ps = prod.mm(s, low_s)  # [B,A+3D(+2M)], biases added in the step
            decoder_step.attend(keys, ps[:, :attn], b_a, v, mask, states, projected[i], attns[i], ctxs[i])
            pc = prod.mm(ctxs[i], low_c)  # [B,3D(+2M)]
            feed = prod.mm(readouts[i - 1], low_f) if feeding and i else None  # W_if t_{i-1} [B,3D]
            decoder_step.cell(
                from_embs[i], ps, b_s, pc, b_c, feed, s, attn,
                reset_update[i], new[i], hidden_n[i], queries[i + 1], readouts[i], seconds[i],
            )  # fmt: skip
        ctx.prod, ctx.feeding, ctx.sizes = prod, feeding, (size, attn, maxout)
        ctx.weights = (low_s, low_c, low_f, low_e)
        ctx.save_for_backward(
            flat_embs, keys, states, mask, v, projected, queries, ctxs, attns, hidden_n, reset_update, new,
            readouts, seconds,
        )  # fmt: skip
        return queries[:-1], ctxs, attns, readouts

    @staticmethod
    def backward(ctx, g_queries, g_ctxs, g_attns, g_readouts):
        (
            flat_embs, keys, states, mask, v, projected, queries, ctxs, attns, hidden_n, reset_update, new,
            readouts, seconds,
        ) = ctx.saved_tensors  # fmt: skip
        prod, feeding, (size, attn, maxout) = ctx.prod, ctx.feeding, ctx.sizes
        low_s, low_c, low_f, low_e = ctx.weights
        steps, batch = ctxs.shape[:2]
        # Gradients of the stacked products' outputs, per step, in the products' operand type and with
        # their rows padded: what the weights' gradients read after the loop, uncopied (computed in fp32
        # a step at a time with bf16 products). Every step writes its rows whole.
        flat = steps * batch
        g_s_flat = prod.store(flat, low_s.size(1), ctxs)  # d(p, g_h, o_s)
        g_c_flat = prod.store(flat, low_c.size(1), ctxs)  # d(g_x, o_c)
        g_s_out = g_s_flat[:flat].view(steps, batch, -1)  # [T,B,A+3D(+2M)]
        g_c_out = g_c_flat[:flat].view(steps, batch, -1)  # [T,B,3D(+2M)]
        g_c_all = torch.empty_like(ctxs)  # dL/dc_i [T,B,2H]
        g_keys = torch.zeros_like(keys)  # [B,S,A]
        g_v = torch.zeros_like(v)  # [A]
        g_s = queries.new_zeros(batch, size)  # dL/ds_i from the steps after i
        g_t = queries.new_zeros(batch, maxout)  # dL/dt_i through step i+1's input
        g_b_s = ctxs.new_zeros(low_s.size(1))  # the biases' gradients, summed in fp32 a step at a time
        g_b_c = ctxs.new_zeros(low_c.size(1))
        g_prev = queries.new_empty(batch, size)  # dL/ds_{i-1}, the direct part (outside the loop, and z)
        g_queries, g_ctxs, g_attns, g_readouts = (
            g.contiguous() for g in (g_queries, g_ctxs, g_attns, g_readouts)
        )
        for i in reversed(range(steps)):
            gs, gc = _row(g_s_out, i, ctxs.dtype), _row(g_c_out, i, ctxs.dtype)  # [B,A+3D(+2M)], [B,3D(+2M)]
            decoder_step.cell_backward(
                g_s, g_queries[i], queries[i], reset_update[i], new[i], hidden_n[i],
                g_readouts[i], g_t, seconds[i], attn, gc, gs, g_prev,
            )  # fmt: skip
            g_b_c += gc.sum(0)
            gc = _keep(g_c_out, i, gc)
            if feeding and i:
                g_t = prod.mm(gc[:, : 3 * size], low_f.t())  # dL/dt_{i-1} [B,M]
            decoder_step.attend_backward(
                prod.mm(gc, low_c.t()), g_ctxs[i], g_attns[i], attns[i], states, keys, projected[i], v, mask,
                g_c_all[i], g_keys, gs[:, :attn], g_v,
            )  # fmt: skip
            g_b_s += gs.sum(0)
            g_s = torch.add(g_prev, prod.mm(_keep(g_s_out, i, gs), low_s.t()))  # dL/ds_{i-1} [B,D]
        g_gx, g_pre = g_c_flat[:, : 3 * size], g_c_flat[:, 3 * size :]  # [N,3D], [N,2M], N = rows(T*B)
        flat_c = ctxs.view(flat, -1)
        g_w_s = prod.mm_tn(g_s_flat, prod.operand(queries[:-1].reshape(flat, size)))  # [A+3D(+2M),D]
        columns = [flat_embs, flat_c]
        if feeding:  # t_{i-1}, zero at the first step
            columns.append(
                torch.cat([readouts.new_zeros(1, batch, maxout), readouts[:-1]]).view(flat, maxout)
            )
        inputs = prod.operand(torch.cat(columns, dim=1))  # the GRU's inputs [N,E+2H(+M)]
        g_w_ih = prod.mm_tn(g_gx, inputs)  # [3D,E+2H(+M)]
        g_w_read = g_b_read = None
        if feeding:
            g_w_read = torch.cat(
                [
                    g_w_s[attn + 3 * size :],
                    prod.mm_tn(g_pre, inputs[:, : flat_embs.size(1) + flat_c.size(1)]),
                ],
                dim=1,
            )
            g_b_read = g_b_c[3 * size :]
        g_embs = prod.mm(g_c_flat, low_e)[:flat].view(steps, batch, -1)  # [T,B,E]
        g_states = torch.bmm(attns.permute(1, 2, 0), g_c_all.transpose(0, 1))  # sum_i a_i g_c_i [B,S,2H]
        g_w_a, g_w_hh = g_w_s[:attn], g_w_s[attn : attn + 3 * size]
        g_b_a, g_b_hh = g_b_s[:attn], g_b_s[attn : attn + 3 * size]
        return (
            g_embs, g_s, g_keys, g_states, None, g_w_a, g_b_a, g_v,
            g_w_ih, g_w_hh, g_b_c[: 3 * size], g_b_hh, g_w_read, g_b_read, None,
        )  # fmt: skip


def _row(store: Tensor, i: int, dtype: torch.dtype) -> Tensor:
    """Step i's row block of a gradient store, to compute in: the store's own, or an fp32 scratch."""
    return store[i] if store.dtype == dtype else store.new_empty(store.shape[1:], dtype=dtype)


def _keep(store: Tensor, i: int, row: Tensor) -> Tensor:
    """Step i's finished gradient row block, in the store (cast there if the store is bf16)."""
    if row.dtype != store.dtype:
        store[i] = row
    return store[i]
