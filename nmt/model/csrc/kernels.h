// The CPU kernels of nmt.model.native, one extension: declared here, bound to Python in bindings.cpp.
#pragma once

#include <ATen/ATen.h>

#include <vector>

// attention_energies.cpp: Bahdanau attention's energies, forward (the scores) and backward.
at::Tensor energies_forward(at::Tensor keys, at::Tensor p, at::Tensor v, at::Tensor mask, int64_t beams);
void energies_backward(at::Tensor g_scores, at::Tensor keys, at::Tensor p, at::Tensor v, at::Tensor mask,
                       at::Tensor g_keys, at::Tensor g_p, at::Tensor g_v);

// best_next.cpp: decoding's n best next tokens of each row and their log-probabilities.
std::vector<at::Tensor> best_next(const at::Tensor& logits, const at::Tensor& force_end, int64_t n,
                                  const at::Tensor& banned, int64_t end);
