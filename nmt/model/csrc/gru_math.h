// One GRU step's arithmetic, shared by the decoder's cell (decoder_cell.cpp) and the encoder's GRU
// (gru_step.cpp). With torch's gate order r, z, n:
//
//   r, z = sigmoid(g_x + g_h)[:2D]    n = tanh(g_x[2D:] + r * g_h[2D:])    s' = n + z (s - n)
//
// sigmoid(x) = (1 + tanh(x/2)) / 2, so that both are MKL's tanh, a block of rows at a time (a call a
// row took twice as long).
#pragma once

#include <ATen/ATen.h>

#include "vector_math.h"

namespace nmt_kernels {

// Rows [begin, end) of a step, given each row's (g_x + g_h)[:2D] / 2 in rz [B,2D], g_x[2D:] in n [B,D]
// (both contiguous) and g_h[2D:] in hn (rows hn_stride apart): r, z into rz, n into n, s' into s_next.
template <typename T>
void gru_finish(int64_t begin, int64_t end, int64_t D, T* __restrict__ rz, T* __restrict__ n,
                const T* __restrict__ hn, int64_t hn_stride, const T* __restrict__ s, int64_t s_stride,
                T* __restrict__ s_next, int64_t next_stride) {
  tanh_block(rz + begin * 2 * D, (end - begin) * 2 * D);
  for (int64_t b = begin; b < end; ++b) {
    T *rz_b = rz + b * 2 * D, *n_b = n + b * D;
    const T* hn_b = hn + b * hn_stride;
    for (int64_t j = 0; j < 2 * D; ++j) rz_b[j] = T(0.5) * rz_b[j] + T(0.5);
    for (int64_t j = 0; j < D; ++j) n_b[j] += rz_b[j] * hn_b[j];
  }
  tanh_block(n + begin * D, (end - begin) * D);
  for (int64_t b = begin; b < end; ++b) {
    const T *n_b = n + b * D, *z = rz + b * 2 * D + D, *s_b = s + b * s_stride;
    T* next = s_next + b * next_stride;
    for (int64_t j = 0; j < D; ++j) next[j] = n_b[j] + z[j] * (s_b[j] - n_b[j]);
  }
}

// One row's backward from dL/ds' g [D] (s the step's input, hn its g_h[2D:]): dL/dg_x into gx [3D],
// dL/dg_h into gh [3D], and base + g z (dL/ds's direct part; base may be null) into g_s [D].
template <typename T>
void gru_row_backward(const T* __restrict__ g, const T* __restrict__ s, const T* __restrict__ rz,
                      const T* __restrict__ n, const T* __restrict__ hn, const T* __restrict__ base, int64_t D,
                      T* __restrict__ gx, T* __restrict__ gh, T* __restrict__ g_s) {
  const T* z = rz + D;
  for (int64_t j = 0; j < D; ++j) {
    const T pre_n = g[j] * (T(1) - z[j]) * (T(1) - n[j] * n[j]);  // dL/d(g_x[2D:] + r g_h[2D:])
    const T g_r = pre_n * hn[j] * rz[j] * (T(1) - rz[j]);
    const T g_z = g[j] * (s[j] - n[j]) * z[j] * (T(1) - z[j]);
    gx[j] = gh[j] = g_r;
    gx[D + j] = gh[D + j] = g_z;
    gx[2 * D + j] = pre_n;
    gh[2 * D + j] = pre_n * rz[j];
    g_s[j] = (base ? base[j] : T(0)) + g[j] * z[j];
  }
}

}  // namespace nmt_kernels
