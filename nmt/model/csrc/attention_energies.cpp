// Bahdanau attention's energies on a CPU, each direction one pass over the [B,S,A] block.
//
//   forward:  h = tanh(keys + p), scores = h v       (at padding: scores -inf, h 0); h kept for training
//   backward: from dL/dscores g: d = g v (1 - h^2);  g_keys += d,  g_p = sum_s d,  g_v += sum g h
//
// torch runs these as 3 ops forward and 5 backward, each a pass over the block (4 MB at B=90, S=22,
// A=512): 0.43 ms and 0.74 ms a decoder step. Padding positions are skipped.
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

// hid null: the scores alone (decoding), each run's h in a per-thread buffer that stays in cache.
template <typename T>
void forward_kernel(const T* keys, const T* p, int64_t p_stride, const T* v, const bool* mask, T* hid,
                    T* scores, int64_t B, int64_t S, int64_t A) {
  using Vec = Vectorized<T>;
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> buffer(hid ? 0 : S * A);
    for (int64_t b = begin; b < end; ++b) {
      const T* q = p + b * p_stride;
      for (int64_t run = b * S; run < (b + 1) * S;) {  // each run of real positions: one tanh call
        T* h = hid ? hid + run * A : buffer.data();  // the run's first row
        int64_t stop = run;
        for (; stop < (b + 1) * S && mask[stop]; ++stop)
          at::vec::map2<T>([](Vec x, Vec y) { return x + y; }, h + (stop - run) * A, keys + stop * A, q, A);
        tanh_block(h, (stop - run) * A);
        for (int64_t bs = run; bs < stop; ++bs)
          scores[bs] = at::vec::map2_reduce_all<T>([](Vec x, Vec y) { return x * y; },
                                                   [](Vec x, Vec y) { return x + y; }, h + (bs - run) * A, v, A);
        for (run = stop; run < (b + 1) * S && !mask[run]; ++run) {  // padding: score -inf, h 0
          scores[run] = -std::numeric_limits<T>::infinity();
          if (hid) std::fill(hid + run * A, hid + (run + 1) * A, T(0));
        }
      }
    }
  });
}

template <typename T>
void backward_kernel(const T* g_scores, const T* hid, const T* v, const bool* mask, T* g_keys, T* g_p,
                     int64_t gp_stride, T* g_v, int64_t B, int64_t S, int64_t A) {
  using Vec = Vectorized<T>;
  const int64_t n = Vec::size();
  std::vector<T> partial(static_cast<size_t>(at::get_num_threads()) * A, T(0));  // g_v per thread
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    T* gv = partial.data() + at::get_thread_num() * A;
    for (int64_t b = begin; b < end; ++b) {
      T* gp = g_p + b * gp_stride;
      std::fill(gp, gp + A, T(0));
      for (int64_t bs = b * S; bs < (b + 1) * S; ++bs) {
        if (!mask[bs]) continue;
        const T g = g_scores[bs];
        const T* h = hid + bs * A;
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
    }
  });
  for (size_t t = 0; t < partial.size() / A; ++t)
    for (int64_t a = 0; a < A; ++a) g_v[a] += partial[t * A + a];
}

void check(const at::Tensor& keys, const at::Tensor& rows, const at::Tensor& v,
           const at::Tensor& mask) {
  TORCH_CHECK(keys.device().is_cpu() && keys.is_contiguous() && keys.dim() == 3, "keys: a contiguous CPU [B,S,A]");
  TORCH_CHECK(rows.dim() == 2 && rows.size(0) == keys.size(0) && rows.size(1) == keys.size(2) &&
                  rows.stride(1) == 1 && rows.scalar_type() == keys.scalar_type(),
              "a [B,A] tensor with contiguous rows, of the keys' type");
  TORCH_CHECK(v.is_contiguous() && v.numel() == keys.size(2) && v.scalar_type() == keys.scalar_type(), "v: [A]");
  TORCH_CHECK(mask.is_contiguous() && mask.scalar_type() == at::kBool &&
                  mask.numel() == keys.size(0) * keys.size(1), "mask: a contiguous bool [B,S]");
}

}  // namespace

// keys [B,S,A], p [B,A], v [A], mask [B,S] -> scores [B,S] and, if keep, tanh(keys + p) [B,S,A] (0 at padding)
std::vector<at::Tensor> energies_forward(at::Tensor keys, at::Tensor p, at::Tensor v, at::Tensor mask,
                                            bool keep) {
  check(keys, p, v, mask);
  auto hid = keep ? at::empty_like(keys) : at::Tensor();
  auto scores = at::empty({keys.size(0), keys.size(1)}, keys.options());
  AT_DISPATCH_FLOATING_TYPES(keys.scalar_type(), "energies_forward", [&] {
    forward_kernel<scalar_t>(keys.data_ptr<scalar_t>(), p.data_ptr<scalar_t>(), p.stride(0),
                             v.data_ptr<scalar_t>(), mask.data_ptr<bool>(), keep ? hid.data_ptr<scalar_t>() : nullptr,
                             scores.data_ptr<scalar_t>(), keys.size(0), keys.size(1), keys.size(2));
  });
  if (!keep) return {scores};
  return {scores, hid};
}

// g_scores [B,S], hid [B,S,A], v [A], mask [B,S]; adds into g_keys [B,S,A] and g_v [A], writes g_p [B,A]
void energies_backward(at::Tensor g_scores, at::Tensor hid, at::Tensor v, at::Tensor mask,
                       at::Tensor g_keys, at::Tensor g_p, at::Tensor g_v) {
  check(hid, g_p, v, mask);
  TORCH_CHECK(g_keys.sizes() == hid.sizes() && g_keys.is_contiguous(), "g_keys: a contiguous [B,S,A]");
  TORCH_CHECK(g_scores.is_contiguous() && g_scores.numel() == mask.numel(), "g_scores: a contiguous [B,S]");
  TORCH_CHECK(g_v.is_contiguous() && g_v.numel() == v.numel(), "g_v: [A]");
  AT_DISPATCH_FLOATING_TYPES(hid.scalar_type(), "energies_backward", [&] {
    backward_kernel<scalar_t>(g_scores.data_ptr<scalar_t>(), hid.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(),
                              mask.data_ptr<bool>(), g_keys.data_ptr<scalar_t>(), g_p.data_ptr<scalar_t>(),
                              g_p.stride(0), g_v.data_ptr<scalar_t>(), hid.size(0), hid.size(1), hid.size(2));
  });
}
