// The CPU kernels of nmt.model.native, one extension: declared here, bound to Python in bindings.cpp.
#pragma once

#include <ATen/ATen.h>

#include <vector>

// attention_energies.cpp: Bahdanau attention's energies, forward (the scores) and backward; a decoder
// step's attention (weights and context) and its backward.
at::Tensor energies_forward(at::Tensor keys, at::Tensor p, at::Tensor v, at::Tensor mask, int64_t beams);
void energies_backward(at::Tensor g_scores, at::Tensor keys, at::Tensor p, at::Tensor v, at::Tensor mask,
                       at::Tensor g_keys, at::Tensor g_p, at::Tensor g_v);
void attend(at::Tensor keys, at::Tensor q, at::Tensor b_a, at::Tensor v, at::Tensor mask, at::Tensor states,
            int64_t beams, at::Tensor p, at::Tensor attn, at::Tensor ctx);
void attend_backward(at::Tensor g_ctx_part, at::Tensor g_ctx_in, at::Tensor g_attn_in, at::Tensor attn,
                     at::Tensor states, at::Tensor keys, at::Tensor p, at::Tensor v, at::Tensor mask, at::Tensor g_ctx,
                     at::Tensor g_keys, at::Tensor g_p, at::Tensor g_v);

// decoder_cell.cpp: the decoder's GRU and maxout readout of one step, forward and backward.
void decoder_cell(at::Tensor from_embs, at::Tensor ps, at::Tensor b_s, at::Tensor pc, at::Tensor b_c, at::Tensor feed,
                  at::Tensor s, int64_t attn, at::Tensor reset_update, at::Tensor new_, at::Tensor hidden_n,
                  at::Tensor s_next, at::Tensor readout, at::Tensor pick);
void decoder_cell_backward(at::Tensor g_s, at::Tensor g_query, at::Tensor s_prev, at::Tensor reset_update,
                           at::Tensor new_, at::Tensor hidden_n, at::Tensor g_readout, at::Tensor g_t, at::Tensor pick,
                           int64_t attn, at::Tensor gc, at::Tensor gs, at::Tensor g_prev);

// gru_step.cpp: a step of the encoder's GRU over a padded batch, forward and backward.
void gru_step(at::Tensor gates_x, at::Tensor gates_h, at::Tensor h, at::Tensor valid, at::Tensor reset_update,
              at::Tensor new_, at::Tensor out);
void gru_step_backward(at::Tensor grad_h, at::Tensor grad_out, at::Tensor h_prev, at::Tensor reset_update,
                       at::Tensor new_, at::Tensor gates_h, at::Tensor valid, at::Tensor grad_gates_x,
                       at::Tensor grad_gates_h, at::Tensor direct);

// softmax_loss.cpp: the output layer's softmax cross-entropy over a chunk of logits, and its gradient.
double softmax_loss(at::Tensor z, at::Tensor targets, double smoothing, int64_t pad, at::Tensor grad_b);

// best_next.cpp: decoding's n best next tokens of each row and their log-probabilities.
std::vector<at::Tensor> best_next(const at::Tensor& logits, const at::Tensor& force_end, int64_t n,
                                  const at::Tensor& banned, int64_t end);
