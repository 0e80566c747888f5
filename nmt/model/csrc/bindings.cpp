// The Python module of the CPU kernels (nmt.model.native builds it with torch's cpp_extension).
#include <torch/extension.h>

#include "kernels.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("energies_forward", &energies_forward, "the scores v tanh(keys + p), -inf at padding");
  m.def("energies_backward", &energies_backward, "the energies' gradients, accumulated");
  m.def("best_next", &best_next, "each row's n best next tokens: log-probabilities and columns");
}
