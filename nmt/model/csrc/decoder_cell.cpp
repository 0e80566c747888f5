// The Bahdanau decoder's step after attention, for training's fused loop: the GRU and the maxout readout.
//
//   g_x = E y part + W_ic c + b_i (+ W_if t_{i-1})    g_h = W_h s_{i-1} + b_h      [B,3D], gates r, z, n
//   r, z = sigmoid(g_x + g_h)[:2D]     n = tanh(g_x[2D:] + r * g_h[2D:])     s_i = n + z (s_{i-1} - n)
//   t_i = maxout(E y part + U_o s_{i-1} + C_o c + b_o)                        [B,M], pairs
//
// torch runs a step's gates, state and maxout as about twenty ops forward and twenty backward, each a
// pass over [B,D]-sized rows with its own dispatch (at B=90, D=512, M=256: 160 us forward, 170 us
// backward, measured); here 60 us each way (the GRU's arithmetic in gru_math.h). What is left is bound
// by memory traffic: a row reads and writes about 25 KB.
#include "kernels.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>

#include <algorithm>
#include <vector>

#include "checks.h"
#include "gru_math.h"

namespace {

using namespace nmt_kernels;

// Rows [begin, end) of the forward, in phases over the rows so that each tanh is one call on a block
// (gru_finish). fe: the E y products [B,3D+2M] (bf16 when the products are), ps: the products of s_{i-1}
// from column A, pc: those of c, feed: W_if t_{i-1} [B,3D] or null; rz, n: contiguous. Each loop is one
// simple pass, which the compiler vectorizes; gx: scratch [3D].
template <typename T, typename E>
void cell_rows(int64_t begin, int64_t end, const E* __restrict__ fe, int64_t fe_stride,
               const T* __restrict__ ps, int64_t ps_stride, const T* __restrict__ b_s, const T* __restrict__ pc,
               int64_t pc_stride, const T* __restrict__ b_c, const T* __restrict__ feed, int64_t feed_stride,
               const T* __restrict__ s, int64_t s_stride, int64_t D, int64_t M, T* __restrict__ rz,
               T* __restrict__ n, T* __restrict__ hn, int64_t hn_stride, T* __restrict__ s_next, int64_t next_stride,
               T* __restrict__ readout, int64_t readout_stride, bool* __restrict__ pick, int64_t pick_stride,
               T* __restrict__ gx) {
  for (int64_t b = begin; b < end; ++b) {  // r, z before the sigmoid (halved), into rz; n's input, into n
    const E* fe_b = fe + b * fe_stride;
    const T *ps_b = ps + b * ps_stride, *pc_b = pc + b * pc_stride;
    T *rz_b = rz + b * 2 * D, *n_b = n + b * D, *hn_b = hn + b * hn_stride;
    for (int64_t j = 0; j < 3 * D; ++j) gx[j] = static_cast<T>(fe_b[j]);
    for (int64_t j = 0; j < 3 * D; ++j) gx[j] += pc_b[j] + b_c[j];
    if (feed)
      for (int64_t j = 0; j < 3 * D; ++j) gx[j] += feed[b * feed_stride + j];
    for (int64_t j = 0; j < 2 * D; ++j) rz_b[j] = T(0.5) * (gx[j] + ps_b[j] + b_s[j]);
    for (int64_t j = 0; j < D; ++j) hn_b[j] = ps_b[2 * D + j] + b_s[2 * D + j];
    for (int64_t j = 0; j < D; ++j) n_b[j] = gx[2 * D + j];  // + r hn once r is known
  }
  gru_finish(begin, end, D, rz, n, hn, hn_stride, s, s_stride, s_next, next_stride);
  if (M == 0) return;
  for (int64_t b = begin; b < end; ++b) {
    const E* fe_b = fe + b * fe_stride + 3 * D;
    const T *ps_b = ps + b * ps_stride + 3 * D, *pc_b = pc + b * pc_stride + 3 * D;
    T* pre = gx;  // the readout's input [2M]
    for (int64_t k = 0; k < 2 * M; ++k) pre[k] = static_cast<T>(fe_b[k]);
    for (int64_t k = 0; k < 2 * M; ++k) pre[k] += ps_b[k] + b_s[3 * D + k] + pc_b[k] + b_c[3 * D + k];
    for (int64_t m = 0; m < M; ++m) {
      const bool second = pre[2 * m + 1] > pre[2 * m];
      pick[b * pick_stride + m] = second;
      readout[b * readout_stride + m] = second ? pre[2 * m + 1] : pre[2 * m];
    }
  }
}

// Row b of the backward, from dL/ds_i g [D] and dL/dt_i g_read [M]: dL/d(g_x, pre-readout) into gc
// [3D+2M], dL/d(g_h, U_o s) into gs [3D+2M], dL/ds_{i-1} (the direct part) into g_prev [D].
template <typename T>
void cell_row_backward(const T* __restrict__ g, const T* __restrict__ g_query, const T* __restrict__ s,
                       const T* __restrict__ rz, const T* __restrict__ n, const T* __restrict__ hn,
                       const T* __restrict__ g_read, const T* __restrict__ g_t, const bool* __restrict__ pick,
                       int64_t D, int64_t M, T* __restrict__ gc, T* __restrict__ gs, T* __restrict__ g_prev) {
  gru_row_backward(g, s, rz, n, hn, g_query, D, gc, gs, g_prev);
  for (int64_t m = 0; m < M; ++m) {
    const T g_pre = g_read[m] + g_t[m];
    const T second = pick[m] ? g_pre : T(0);
    gc[3 * D + 2 * m + 1] = gs[3 * D + 2 * m + 1] = second;
    gc[3 * D + 2 * m] = gs[3 * D + 2 * m] = g_pre - second;
  }
}

}  // namespace

// One step's GRU and readout (see above). from_embs [B,3D+2M] (fp32/fp64, or bf16), ps [B,A+3D+2M] and pc
// [B,3D+2M] (the products of s_{i-1} and c, without biases), b_s, b_c their biases, feed [B,3D] or an empty
// tensor, s [B,D]; attn = A. Writes r, z into reset_update [B,2D], n into new_ [B,D], W_hn s + b_hn into
// hidden_n [B,D], s_i into s_next [B,D], and with M > 0 t_i into readout [B,M] and maxout's picks into pick.
void decoder_cell(at::Tensor from_embs, at::Tensor ps, at::Tensor b_s, at::Tensor pc, at::Tensor b_c, at::Tensor feed,
                  at::Tensor s, int64_t attn, at::Tensor reset_update, at::Tensor new_, at::Tensor hidden_n,
                  at::Tensor s_next, at::Tensor readout, at::Tensor pick) {
  const auto B = s.size(0), D = s.size(1), M = readout.size(1), W = 3 * D + 2 * M;
  const auto type = s.scalar_type();
  TORCH_CHECK(from_embs.dim() == 2 && from_embs.size(0) == B && from_embs.size(1) == W && from_embs.stride(1) == 1 &&
                  (from_embs.scalar_type() == type || from_embs.scalar_type() == at::kBFloat16),
              "from_embs: [B,3D+2M] with contiguous rows, of the state's type or bf16");
  check_rows(ps, B, attn + W, type, "ps");
  check_rows(pc, B, W, type, "pc");
  TORCH_CHECK(b_s.is_contiguous() && b_s.numel() == attn + W && b_c.is_contiguous() && b_c.numel() == W &&
                  b_s.scalar_type() == type && b_c.scalar_type() == type, "b_s [A+3D+2M], b_c [3D+2M]");
  if (feed.numel()) check_rows(feed, B, 3 * D, type, "feed");
  for (const auto* t : {&s, &hidden_n, &s_next, &new_}) check_rows(*t, B, D, type, "a state");
  check_rows(reset_update, B, 2 * D, type, "reset_update");
  TORCH_CHECK(reset_update.is_contiguous() && new_.is_contiguous(), "reset_update and new_: contiguous");
  check_rows(readout, B, M, type, "readout");
  TORCH_CHECK(pick.scalar_type() == at::kBool && pick.dim() == 2 && pick.size(0) == B && pick.size(1) == M &&
                  pick.stride(1) == 1, "pick: a bool [B,M]");
  AT_DISPATCH_FLOATING_TYPES(type, "decoder_cell", [&] {
    using T = scalar_t;
    const auto run = [&](auto* fe) {
      at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
        std::vector<T> gx(std::max(3 * D, 2 * M));
        cell_rows<T>(begin, end, fe, from_embs.stride(0), ps.data_ptr<T>() + attn, ps.stride(0),
                     b_s.data_ptr<T>() + attn, pc.data_ptr<T>(), pc.stride(0), b_c.data_ptr<T>(),
                     feed.numel() ? feed.data_ptr<T>() : nullptr, feed.numel() ? feed.stride(0) : 0, s.data_ptr<T>(),
                     s.stride(0), D, M, reset_update.data_ptr<T>(), new_.data_ptr<T>(), hidden_n.data_ptr<T>(),
                     hidden_n.stride(0), s_next.data_ptr<T>(), s_next.stride(0), readout.data_ptr<T>(),
                     readout.stride(0), pick.data_ptr<bool>(), pick.stride(0), gx.data());
      });
    };
    if (from_embs.scalar_type() == at::kBFloat16) {
      run(from_embs.data_ptr<c10::BFloat16>());
    } else {
      run(from_embs.data_ptr<T>());
    }
  });
}

// decoder_cell's backward. g_s: dL/ds_i [B,D] from the steps after i; g_query: dL/ds_{i-1} from outside the
// loop [B,D]; g_readout, g_t: dL/dt_i [B,M] in two parts (from outside, and through step i+1's input); attn =
// A. Writes gc [B,3D+2M], gs [B,A+3D+2M] from column A, and dL/ds_{i-1}'s direct part into g_prev [B,D].
void decoder_cell_backward(at::Tensor g_s, at::Tensor g_query, at::Tensor s_prev, at::Tensor reset_update,
                           at::Tensor new_, at::Tensor hidden_n, at::Tensor g_readout, at::Tensor g_t, at::Tensor pick,
                           int64_t attn, at::Tensor gc, at::Tensor gs, at::Tensor g_prev) {
  const auto B = g_s.size(0), D = g_s.size(1), M = g_readout.size(1), W = 3 * D + 2 * M;
  const auto type = g_s.scalar_type();
  for (const auto* t : {&g_s, &g_query, &s_prev, &new_, &hidden_n, &g_prev}) check_rows(*t, B, D, type, "a state");
  check_rows(reset_update, B, 2 * D, type, "reset_update");
  check_rows(g_readout, B, M, type, "g_readout");
  check_rows(g_t, B, M, type, "g_t");
  check_rows(gc, B, W, type, "gc");
  check_rows(gs, B, attn + W, type, "gs");
  TORCH_CHECK(pick.scalar_type() == at::kBool && pick.dim() == 2 && pick.size(0) == B && pick.size(1) == M &&
                  pick.stride(1) == 1, "pick: a bool [B,M]");
  AT_DISPATCH_FLOATING_TYPES(type, "decoder_cell_backward", [&] {
    using T = scalar_t;
    at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b)
        cell_row_backward<T>(
            g_s.data_ptr<T>() + b * g_s.stride(0), g_query.data_ptr<T>() + b * g_query.stride(0),
            s_prev.data_ptr<T>() + b * s_prev.stride(0), reset_update.data_ptr<T>() + b * reset_update.stride(0),
            new_.data_ptr<T>() + b * new_.stride(0), hidden_n.data_ptr<T>() + b * hidden_n.stride(0),
            g_readout.data_ptr<T>() + b * g_readout.stride(0), g_t.data_ptr<T>() + b * g_t.stride(0),
            pick.data_ptr<bool>() + b * pick.stride(0), D, M, gc.data_ptr<T>() + b * gc.stride(0),
            gs.data_ptr<T>() + b * gs.stride(0) + attn, g_prev.data_ptr<T>() + b * g_prev.stride(0));
    });
  });
}
