// Argument checks shared by the CPU kernels.
#pragma once

#include <ATen/ATen.h>

namespace nmt_kernels {

// t: a CPU [rows, width] tensor of the given type whose rows are contiguous (they may be strided).
inline void check_rows(const at::Tensor& t, int64_t rows, int64_t width, at::ScalarType type, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.dim() == 2 && t.size(0) == rows && t.size(1) == width && t.stride(1) == 1 &&
                  t.scalar_type() == type,
              name, ": a CPU [", rows, ",", width, "] with contiguous rows, of the state's type");
}

}  // namespace nmt_kernels
