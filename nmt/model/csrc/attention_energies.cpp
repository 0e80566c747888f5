// Bahdanau attention's energies on a CPU, each direction one pass over the [B,S,A] block.
//
//   forward:  h = tanh(keys + p), scores = h v       (-inf at padding)
//   backward: from dL/dscores g: d = g v (1 - h^2);  g_keys += d,  g_p = sum_s d,  g_v += sum g h
//
// torch runs these as 3 ops forward and 5 backward, each a pass over the block (4 MB at B=90, S=22,
// A=512): 0.43 ms and 0.74 ms a decoder step. Here h lives in a per-thread buffer a run of real
// positions at a time (padding is skipped): the forward never writes it, and the backward computes it
// again from keys and p, which costs a tanh and saves storing [T,B,S,A] for the backward (100 MB a batch).
#include "kernels.h"

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/Config.h>
#include <ATen/cpu/vec/vec.h>

#include <limits>
#include <vector>

#if AT_MKL_ENABLED()
// MKL's vector tanh, in libtorch_cpu: torch's own tanh calls it (ATen/cpu/vml.h, whose mkl.h is not shipped).
extern "C" {
void vmsTanh(int n, const float* a, float* r, long long mode);
void vmdTanh(int n, const double* a, double* r, long long mode);
}
#endif

namespace {

using at::vec::Vectorized;

// tanh of a block in place, with torch's accuracy: MKL's high-accuracy mode (VML_HA | VML_FTZDAZ_OFF |
// VML_ERRMODE_IGNORE, as ATen/cpu/vml.h) where torch has MKL, else Sleef's.
template <typename T>
void tanh_block(T* x, int64_t n) {
  if (n == 0) return;
#if AT_MKL_ENABLED()
  constexpr long long mode = 0x2 | 0x140000 | 0x100;
  if constexpr (std::is_same_v<T, float>) {
    vmsTanh(static_cast<int>(n), x, x, mode);
  } else {
    vmdTanh(static_cast<int>(n), x, x, mode);
  }
#else
  at::vec::map([](Vectorized<T> y) { return y.tanh(); }, x, x, n);
#endif
}

// h = tanh(keys + p) for one run of real positions [first, stop) of row b: into h [stop-first, A].
template <typename T>
void tanh_run(const T* keys, const T* q, int64_t first, int64_t stop, int64_t A, T* h) {
  using Vec = Vectorized<T>;
  for (int64_t bs = first; bs < stop; ++bs)
    at::vec::map2<T>([](Vec x, Vec y) { return x + y; }, h + (bs - first) * A, keys + bs * A, q, A);
  tanh_block(h, (stop - first) * A);
}

// Calls f(first, stop) for each run of real positions of row b, in order.
template <typename F>
void for_each_run(const bool* mask, int64_t b, int64_t S, F f) {
  for (int64_t first = b * S; first < (b + 1) * S;) {
    int64_t stop = first;
    while (stop < (b + 1) * S && mask[stop]) ++stop;
    if (stop > first) f(first, stop);
    for (first = stop; first < (b + 1) * S && !mask[first];) ++first;
  }
}

// N = B * beams rows of p; row r reads sentence r / beams (beam search keeps one copy of the keys).
template <typename T>
void forward_kernel(const T* keys, const T* p, int64_t p_stride, const T* v, const bool* mask, T* scores,
                    int64_t N, int64_t beams, int64_t S, int64_t A) {
  using Vec = Vectorized<T>;
  std::fill(scores, scores + N * S, -std::numeric_limits<T>::infinity());  // padding keeps -inf
  at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> h(S * A);  // a run's h, in cache
    for (int64_t r = begin; r < end; ++r) {
      T* row_scores = scores + r * S;
      for_each_run(mask, r / beams, S, [&](int64_t first, int64_t stop) {
        tanh_run(keys, p + r * p_stride, first, stop, A, h.data());
        for (int64_t bs = first; bs < stop; ++bs)
          row_scores[bs % S] = at::vec::map2_reduce_all<T>([](Vec x, Vec y) { return x * y; },
                                                           [](Vec x, Vec y) { return x + y; },
                                                           h.data() + (bs - first) * A, v, A);
      });
    }
  });
}

template <typename T>
void backward_kernel(const T* g_scores, const T* keys, const T* p, int64_t p_stride, const T* v,
                     const bool* mask, T* g_keys, T* g_p, int64_t gp_stride, T* g_v, int64_t B, int64_t S,
                     int64_t A) {
  using Vec = Vectorized<T>;
  const int64_t n = Vec::size();
  std::vector<T> partial(static_cast<size_t>(at::get_num_threads()) * A, T(0));  // g_v per thread
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    T* gv = partial.data() + at::get_thread_num() * A;
    std::vector<T> run_h(S * A);  // h recomputed, a run at a time: never stored between the passes
    for (int64_t b = begin; b < end; ++b) {
      T* gp = g_p + b * gp_stride;
      std::fill(gp, gp + A, T(0));
      for_each_run(mask, b, S, [&](int64_t first, int64_t stop) {
        tanh_run(keys, p + b * p_stride, first, stop, A, run_h.data());
        for (int64_t bs = first; bs < stop; ++bs) {
          const T g = g_scores[bs];
          const T* h = run_h.data() + (bs - first) * A;
          T* gk = g_keys + bs * A;
          const Vec gvec(g), one(T(1));
          int64_t a = 0;
          for (; a + n <= A; a += n) {
            Vec x = Vec::loadu(h + a);
            Vec d = gvec * Vec::loadu(v + a) * (one - x * x);
            (Vec::loadu(gk + a) + d).store(gk + a);
            (Vec::loadu(gp + a) + d).store(gp + a);
            at::vec::fmadd(gvec, x, Vec::loadu(gv + a)).store(gv + a);
          }
          for (; a < A; ++a) {
            const T d = g * v[a] * (T(1) - h[a] * h[a]);
            gk[a] += d;
            gp[a] += d;
            gv[a] += g * h[a];
          }
        }
      });
    }
  });
  for (size_t t = 0; t < partial.size() / A; ++t)
    for (int64_t a = 0; a < A; ++a) g_v[a] += partial[t * A + a];
}

void check(const at::Tensor& keys, const at::Tensor& rows, const at::Tensor& v, const at::Tensor& mask,
           int64_t beams = 1) {
  TORCH_CHECK(keys.device().is_cpu() && keys.is_contiguous() && keys.dim() == 3, "keys: a contiguous CPU [B,S,A]");
  TORCH_CHECK(beams >= 1 && rows.dim() == 2 && rows.size(0) == keys.size(0) * beams &&
                  rows.size(1) == keys.size(2) && rows.stride(1) == 1 && rows.scalar_type() == keys.scalar_type(),
              "a [B*beams,A] tensor with contiguous rows, of the keys' type");
  TORCH_CHECK(v.is_contiguous() && v.numel() == keys.size(2) && v.scalar_type() == keys.scalar_type(), "v: [A]");
  TORCH_CHECK(mask.is_contiguous() && mask.scalar_type() == at::kBool &&
                  mask.numel() == keys.size(0) * keys.size(1), "mask: a contiguous bool [B,S]");
}

}  // namespace

// keys [B,S,A], p [N,A] (N = B * beams, row r for sentence r / beams), v [A], mask [B,S] -> the scores
// v tanh(keys + p) [N,S], -inf at padding
at::Tensor energies_forward(at::Tensor keys, at::Tensor p, at::Tensor v, at::Tensor mask, int64_t beams) {
  check(keys, p, v, mask, beams);
  auto scores = at::empty({p.size(0), keys.size(1)}, keys.options());
  AT_DISPATCH_FLOATING_TYPES(keys.scalar_type(), "energies_forward", [&] {
    forward_kernel<scalar_t>(keys.data_ptr<scalar_t>(), p.data_ptr<scalar_t>(), p.stride(0), v.data_ptr<scalar_t>(),
                             mask.data_ptr<bool>(), scores.data_ptr<scalar_t>(), p.size(0), beams, keys.size(1),
                             keys.size(2));
  });
  return scores;
}

// From dL/dscores g_scores [B,S] (and the forward's keys, p, v, mask): adds dL/dkeys into g_keys [B,S,A]
// and dL/dv into g_v [A], writes dL/dp into g_p [B,A] (rows may be strided).
void energies_backward(at::Tensor g_scores, at::Tensor keys, at::Tensor p, at::Tensor v, at::Tensor mask,
                       at::Tensor g_keys, at::Tensor g_p, at::Tensor g_v) {
  check(keys, p, v, mask);
  check(keys, g_p, v, mask);
  TORCH_CHECK(g_keys.sizes() == keys.sizes() && g_keys.is_contiguous() && g_keys.scalar_type() == keys.scalar_type(),
              "g_keys: a contiguous [B,S,A] of the keys' type");
  TORCH_CHECK(g_scores.is_contiguous() && g_scores.numel() == mask.numel() && g_scores.scalar_type() == keys.scalar_type(),
              "g_scores: a contiguous [B,S] of the keys' type");
  TORCH_CHECK(g_v.is_contiguous() && g_v.numel() == v.numel() && g_v.scalar_type() == keys.scalar_type(), "g_v: [A]");
  AT_DISPATCH_FLOATING_TYPES(keys.scalar_type(), "energies_backward", [&] {
    backward_kernel<scalar_t>(g_scores.data_ptr<scalar_t>(), keys.data_ptr<scalar_t>(), p.data_ptr<scalar_t>(),
                              p.stride(0), v.data_ptr<scalar_t>(), mask.data_ptr<bool>(), g_keys.data_ptr<scalar_t>(),
                              g_p.data_ptr<scalar_t>(), g_p.stride(0), g_v.data_ptr<scalar_t>(), keys.size(0),
                              keys.size(1), keys.size(2));
  });
}
