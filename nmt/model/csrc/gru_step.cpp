// A step of the encoder's GRU over a padded batch (nmt/model/gru_sequence.py), forward and backward: the
// gates, the new state and the freeze past a row's length in one call (the arithmetic in gru_math.h),
// where torch ran about eight ops forward and twelve backward, each a pass over [B,3H]-sized rows.
#include "kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "checks.h"
#include "gru_math.h"

namespace {

using namespace nmt_kernels;

void check_valid(const at::Tensor& valid, int64_t rows) {
  TORCH_CHECK(valid.scalar_type() == at::kBool && valid.is_contiguous() && valid.numel() == rows,
              "valid: a contiguous bool [B] or [B,1]");
}

}  // namespace

// gates_x = W_i x + b_i and gates_h = W_h h + b_h [B,3H], h [B,H], valid [B]: r, z into reset_update
// [B,2H] and n into new_ [B,H] (both contiguous), and into out [B,H] the new state where valid, else h.
void gru_step(at::Tensor gates_x, at::Tensor gates_h, at::Tensor h, at::Tensor valid, at::Tensor reset_update,
              at::Tensor new_, at::Tensor out) {
  const auto B = h.size(0), H = h.size(1);
  const auto type = h.scalar_type();
  check_rows(gates_x, B, 3 * H, type, "gates_x");
  check_rows(gates_h, B, 3 * H, type, "gates_h");
  for (const auto* t : {&h, &new_, &out}) check_rows(*t, B, H, type, "a state");
  check_rows(reset_update, B, 2 * H, type, "reset_update");
  TORCH_CHECK(reset_update.is_contiguous() && new_.is_contiguous(), "reset_update and new_: contiguous");
  check_valid(valid, B);
  AT_DISPATCH_FLOATING_TYPES(type, "gru_step", [&] {
    using T = scalar_t;
    const T *gx = gates_x.data_ptr<T>(), *gh = gates_h.data_ptr<T>(), *hp = h.data_ptr<T>();
    T *rz = reset_update.data_ptr<T>(), *n = new_.data_ptr<T>(), *o = out.data_ptr<T>();
    const bool* live = valid.data_ptr<bool>();
    const auto gx_stride = gates_x.stride(0), gh_stride = gates_h.stride(0);
    const auto h_stride = h.stride(0), o_stride = out.stride(0);
    at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {  // (g_x + g_h)[:2H] / 2 into rz, g_x[2H:] into n
        const T *gx_b = gx + b * gx_stride, *gh_b = gh + b * gh_stride;
        T *rz_b = rz + b * 2 * H, *n_b = n + b * H;
        for (int64_t j = 0; j < 2 * H; ++j) rz_b[j] = T(0.5) * (gx_b[j] + gh_b[j]);
        for (int64_t j = 0; j < H; ++j) n_b[j] = gx_b[2 * H + j];
      }
      gru_finish(begin, end, H, rz, n, gh + 2 * H, gh_stride, hp, h_stride, o, o_stride);
      for (int64_t b = begin; b < end; ++b)
        if (!live[b]) std::copy(hp + b * h_stride, hp + b * h_stride + H, o + b * o_stride);
    });
  });
}

// gru_step's backward from dL/dh' in two parts, grad_h (through the steps after) and grad_out (from
// outside) [B,H], with the step's input h_prev, r, z, n and gates_h: dL/dgates_x into grad_gates_x and
// dL/dgates_h into grad_gates_h [B,3H] (zero where not valid), and dL/dh_prev's direct part into
// direct [B,H] (z dL/dh' where valid, else dL/dh' itself: the state passed through).
void gru_step_backward(at::Tensor grad_h, at::Tensor grad_out, at::Tensor h_prev, at::Tensor reset_update,
                       at::Tensor new_, at::Tensor gates_h, at::Tensor valid, at::Tensor grad_gates_x,
                       at::Tensor grad_gates_h, at::Tensor direct) {
  const auto B = grad_h.size(0), H = grad_h.size(1);
  const auto type = grad_h.scalar_type();
  for (const auto* t : {&grad_h, &grad_out, &h_prev, &new_, &direct}) check_rows(*t, B, H, type, "a state");
  check_rows(reset_update, B, 2 * H, type, "reset_update");
  for (const auto* t : {&gates_h, &grad_gates_x, &grad_gates_h}) check_rows(*t, B, 3 * H, type, "a [B,3H] gate");
  check_valid(valid, B);
  AT_DISPATCH_FLOATING_TYPES(type, "gru_step_backward", [&] {
    using T = scalar_t;
    const bool* live = valid.data_ptr<bool>();
    at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
      std::vector<T> total(H);
      for (int64_t b = begin; b < end; ++b) {
        const T *gh_in = grad_h.data_ptr<T>() + b * grad_h.stride(0);
        const T* go = grad_out.data_ptr<T>() + b * grad_out.stride(0);
        T* d = direct.data_ptr<T>() + b * direct.stride(0);
        T* gx = grad_gates_x.data_ptr<T>() + b * grad_gates_x.stride(0);
        T* gh = grad_gates_h.data_ptr<T>() + b * grad_gates_h.stride(0);
        if (!live[b]) {
          for (int64_t j = 0; j < H; ++j) d[j] = gh_in[j] + go[j];
          std::fill(gx, gx + 3 * H, T(0));
          std::fill(gh, gh + 3 * H, T(0));
          continue;
        }
        for (int64_t j = 0; j < H; ++j) total[j] = gh_in[j] + go[j];
        gru_row_backward(total.data(), h_prev.data_ptr<T>() + b * h_prev.stride(0),
                         reset_update.data_ptr<T>() + b * reset_update.stride(0),
                         new_.data_ptr<T>() + b * new_.stride(0),
                         gates_h.data_ptr<T>() + b * gates_h.stride(0) + 2 * H, static_cast<const T*>(nullptr), H, gx,
                         gh, d);
      }
    });
  });
}
