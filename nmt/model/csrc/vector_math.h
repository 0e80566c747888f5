// Vector helpers shared by the CPU kernels: tanh with torch's accuracy, and the runs of real positions.
#pragma once

#include <ATen/Config.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <type_traits>

#if AT_MKL_ENABLED()
// MKL's vector tanh, in libtorch_cpu: torch's own tanh calls it (ATen/cpu/vml.h, whose mkl.h is not shipped).
extern "C" {
void vmsTanh(int n, const float* a, float* r, long long mode);
void vmdTanh(int n, const double* a, double* r, long long mode);
}
#endif

namespace nmt_kernels {

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

}  // namespace nmt_kernels
