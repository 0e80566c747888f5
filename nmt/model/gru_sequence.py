"""A GRU over a padded, time-major batch with its backward written out: the CPU encoder's RNN.

torch's CPU GRU is built from autograd-recorded small ops: on a packed batch its backward zero-fills
a whole [N,3H] gradient for every time step (quadratic in the source length), and even on a padded
batch backward takes 3-4x the forward (measured, B=90, S=22, H=256: forward 13 ms, forward and
backward 73 ms packed, 47 ms padded). Here the forward keeps each step's gates, and backward runs
the recurrence back; the weights' gradients are then one product over all steps, as in
nmt.model.loop_linear. Between a step's products, its gates and state are one kernel call each way
(csrc/gru_step.cpp), or the same equations in torch's ops where the kernels cannot be built.

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

from nmt.model.native import for_cpu


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
        step = _kernel_or(x, "gru_step", _step)
        for t in range(steps):
            gh = torch.addmm(b_hh, h, w_hh.t(), out=gates_h[t])  # [B,3H]
            step(gates_x[t], gh, h, valid[t], reset_update[t], new[t], states[t])
            h = states[t]  # [B,H]
        ctx.save_for_backward(flat_x, valid, w_ih, w_hh, gates_h, reset_update, new, states)
        return states

    @staticmethod
    def backward(ctx, grad_states):
        flat_x, valid, w_ih, w_hh, gates_h, reset_update, new, states = ctx.saved_tensors
        steps, batch, size = states.shape
        grad_gates_x = states.new_empty(steps, batch, 3 * size)  # d(W_i x + b_i) [S,B,3H]
        grad_gates_h = states.new_empty(steps, batch, 3 * size)  # d(W_h h + b_h) [S,B,3H]
        grad_h = states.new_zeros(batch, size)  # dL/dh_t from the steps after t [B,H]
        direct = torch.empty_like(grad_h)  # dL/dh_{t-1} but through W_h [B,H]
        grad_states, start = grad_states.contiguous(), torch.zeros_like(grad_h)
        step_backward = _kernel_or(states, "gru_step_backward", _step_backward)
        for t in reversed(range(steps)):
            step_backward(
                grad_h, grad_states[t], states[t - 1] if t else start, reset_update[t], new[t], gates_h[t],
                valid[t], grad_gates_x[t], grad_gates_h[t], direct,
            )  # fmt: skip
            grad_h = torch.addmm(direct, grad_gates_h[t], w_hh)  # dL/dh_{t-1} [B,H]
        flat_gx, flat_gh = grad_gates_x.flatten(0, 1), grad_gates_h.flatten(0, 1)  # [S*B,3H]
        previous = torch.cat([states.new_zeros(1, batch, size), states[:-1]]).flatten(0, 1)  # h_{t-1} [S*B,H]
        grad_x = (flat_gx @ w_ih).view(steps, batch, -1) if ctx.needs_input_grad[0] else None
        grad_w_ih, grad_w_hh = flat_gx.t() @ flat_x, flat_gh.t() @ previous  # [3H,in], [3H,H]
        return grad_x, None, grad_w_ih, grad_w_hh, flat_gx.sum(0), flat_gh.sum(0)


def _kernel_or(x: Tensor, name: str, fallback):
    """The CPU kernel `name` of nmt.model.native where it runs on x, else fallback (torch's ops)."""
    native = for_cpu(x)
    return fallback if native is None else getattr(native, name)


def _step(
    gates_x: Tensor, gates_h: Tensor, h: Tensor, valid: Tensor, reset_update: Tensor, new: Tensor, out: Tensor
):
    """One step with torch's ops (the kernel gru_step): the new state where valid [B,1], else h, into out."""
    torch.where(valid, gru_gates(gates_x, gates_h, h, reset_update, new), h, out=out)


def _step_backward(
    grad_h: Tensor,
    grad_out: Tensor,
    h_prev: Tensor,
    reset_update: Tensor,
    new: Tensor,
    gates_h: Tensor,
    valid: Tensor,
    grad_gates_x: Tensor,
    grad_gates_h: Tensor,
    direct: Tensor,
) -> None:
    """_step's backward with torch's ops (the kernel gru_step_backward): the gates' gradients and, into
    direct, dL/dh_prev's part that does not pass through W_h."""
    size = grad_h.size(1)
    total = grad_h + grad_out  # dL/dh' [B,H]
    grad = total * valid  # what reaches the update; past a row's length h' = h_prev
    gru_gate_gradients(grad, h_prev, reset_update, new, gates_h[:, 2 * size :], grad_gates_x, grad_gates_h)
    torch.add(grad * reset_update[:, size:], total * ~valid, out=direct)


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
