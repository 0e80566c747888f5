"""A GRU over a padded, time-major batch with its backward written out: the CPU encoder's RNN.

torch's CPU GRU is built from autograd-recorded small ops: on a packed batch its backward zero-fills
a whole [N,3H] gradient for every time step (quadratic in the source length), and even on a padded
batch backward takes 3-4x the forward (measured, B=90, S=22, H=256: forward 13 ms, forward and
backward 73 ms packed, 47 ms padded). Here the forward keeps each step's gates, and backward runs
the recurrence back with about fifteen ops a step; the weights' gradients are then one product over
all steps, as in nmt.model.loop_linear.

With the paper's (and torch's) gate order r, z, n:

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) n + z h = lerp(n, h, z)

A row's state stops changing past its length (valid False), so its last state is the final one.
"""

from __future__ import annotations

import torch
from torch import Tensor


def gru_sequence(x: Tensor, valid: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
    """Every state [S,B,H] of a GRU from h_0 = 0 over x [S,B,in], frozen where valid [S,B,1] is False."""
    return _GRUSequence.apply(x, valid, w_ih, w_hh, b_ih, b_hh)


class _GRUSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, valid, w_ih, w_hh, b_ih, b_hh):
        steps, batch, _ = x.shape
        size = w_hh.size(1)  # H
        flat_x = x.reshape(steps * batch, -1)  # [S*B,in]
        gates_x = torch.addmm(b_ih, flat_x, w_ih.t()).view(steps, batch, -1)  # [S,B,3H]: all steps at once
        gates_h = x.new_empty(steps, batch, 3 * size)  # W_h h + b_h of each step [S,B,3H]
        reset_update = x.new_empty(steps, batch, 2 * size)  # r, z [S,B,2H]
        new = x.new_empty(steps, batch, size)  # n [S,B,H]
        states = x.new_empty(steps, batch, size)  # h [S,B,H]
        h = x.new_zeros(batch, size)  # [B,H]
        for t in range(steps):
            gh = torch.addmm(b_hh, h, w_hh.t(), out=gates_h[t])  # [B,3H]
            stepped = gru_gates(gates_x[t], gh, h, reset_update[t], new[t])  # [B,H]
            h = torch.where(valid[t], stepped, h, out=states[t])  # [B,H]
        ctx.save_for_backward(flat_x, valid, w_ih, w_hh, gates_h, reset_update, new, states)
        return states

    @staticmethod
    def backward(ctx, grad_states):
        flat_x, valid, w_ih, w_hh, gates_h, reset_update, new, states = ctx.saved_tensors
        steps, batch, size = states.shape
        grad_gates_x = states.new_empty(steps, batch, 3 * size)  # d(W_i x + b_i) [S,B,3H]
        grad_gates_h = states.new_empty(steps, batch, 3 * size)  # d(W_h h + b_h) [S,B,3H]
        grad_h = states.new_zeros(batch, size)  # dL/dh_t from the steps after t [B,H]
        for t in reversed(range(steps)):
            grad_h = grad_h + grad_states[t]  # [B,H]
            h_prev = states[t - 1] if t else torch.zeros_like(grad_h)
            grad = grad_h * valid[t]  # what reaches the update; past a row's length h_t = h_{t-1}
            z = reset_update[t, :, size:]
            gh = grad_gates_h[t]  # [B,3H]
            gru_gate_gradients(
                grad, h_prev, reset_update[t], new[t], gates_h[t, :, 2 * size :], grad_gates_x[t], gh
            )
            grad_h = torch.addmm(grad * z + grad_h * ~valid[t], gh, w_hh)  # dL/dh_{t-1} [B,H]
        flat_gx, flat_gh = grad_gates_x.flatten(0, 1), grad_gates_h.flatten(0, 1)  # [S*B,3H]
        previous = torch.cat([states.new_zeros(1, batch, size), states[:-1]]).flatten(0, 1)  # h_{t-1} [S*B,H]
        grad_x = (flat_gx @ w_ih).view(steps, batch, -1) if ctx.needs_input_grad[0] else None
        grad_w_ih, grad_w_hh = flat_gx.t() @ flat_x, flat_gh.t() @ previous  # [3H,in], [3H,H]
        return grad_x, None, grad_w_ih, grad_w_hh, flat_gx.sum(0), flat_gh.sum(0)


def gru_gates(gates_x: Tensor, gates_h: Tensor, h: Tensor, reset_update: Tensor, new: Tensor) -> Tensor:
    """One GRU step from W_i x + b_i and W_h h + b_h [B,3H]: h' [B,H]; r, z [B,2H] and n [B,H] written
    into reset_update and new (what the backward reads)."""
    size = h.size(1)
    rz = torch.add(gates_x[:, : 2 * size], gates_h[:, : 2 * size], out=reset_update).sigmoid_()
    n = torch.mul(rz[:, :size], gates_h[:, 2 * size :], out=new).add_(gates_x[:, 2 * size :]).tanh_()
    return torch.lerp(n, h, rz[:, size:])  # (1 - z) n + z h


def gru_gate_gradients(
    grad: Tensor,
    h: Tensor,
    reset_update: Tensor,
    new: Tensor,
    hidden_n: Tensor,
    grad_x: Tensor,
    grad_h: Tensor,
) -> None:
    """From dL/dh' [B,H] of a gru_gates step (h its input, hidden_n its W_hn h + b_hn): dL/d(W_i x + b_i)
    into grad_x and dL/d(W_h h + b_h) into grad_h, [B,3H] each (r, z, n)."""
    size = h.size(1)
    r, z, n = reset_update[:, :size], reset_update[:, size:], new
    torch.mul(grad, h - n, out=grad_x[:, size : 2 * size])  # dL/dz
    pre_n = torch.mul(grad, 1 - z, out=grad_x[:, 2 * size :]).mul_(1 - n * n)  # dL/d(W_in x + r hn)
    torch.mul(pre_n, hidden_n, out=grad_x[:, :size])  # dL/dr
    grad_x[:, : 2 * size].mul_(reset_update * (1 - reset_update))  # through the sigmoids
    grad_h[:, : 2 * size] = grad_x[:, : 2 * size]
    torch.mul(pre_n, r, out=grad_h[:, 2 * size :])  # dL/d(W_hn h + b_hn)
