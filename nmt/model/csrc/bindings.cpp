// The Python module of the CPU kernels (nmt.model.native builds it with torch's cpp_extension).
#include <torch/extension.h>

#include "kernels.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("energies_forward", &energies_forward, "the scores v tanh(keys + p), -inf at padding");
  m.def("energies_backward", &energies_backward, "the energies' gradients, accumulated");
  m.def("attend", &attend, "a decoder step's attention: p, the weights and the context");
  m.def("attend_backward", &attend_backward, "attend's gradients");
  m.def("decoder_cell", &decoder_cell, "a decoder step's GRU and maxout readout");
  m.def("decoder_cell_backward", &decoder_cell_backward, "decoder_cell's gradients");
  m.def("gru_step", &gru_step, "a step of the encoder's GRU over a padded batch");
  m.def("gru_step_backward", &gru_step_backward, "gru_step's gradients");
  m.def("softmax_loss", &softmax_loss, "a chunk's softmax cross-entropy, its gradient in place");
  m.def("best_next", &best_next, "each row's n best next tokens: log-probabilities and columns");
}
