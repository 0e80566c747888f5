// Bahdanau attention's energies on a CPU, each direction one pass over the [B,S,A] block.
//
//   forward:  h = tanh(keys + p), scores = h v       (-inf at padding)
//   backward: from dL/dscores g: d = g v (1 - h^2);  g_keys += d,  g_p = sum_s d,  g_v += sum g h
//
// torch runs these as 3 ops forward and 5 backward, each a pass over the block (4 MB at B=90, S=22,
// A=512): 0.43 ms and 0.74 ms a decoder step. Here h lives in registers, a vector at a time (padding is
// skipped, tanh is vector_math.h's tanh_vec): the forward never writes it, and the backward computes it
// again from keys and p, which costs a tanh and saves storing [T,B,S,A] for the backward (100 MB a batch).
#include "kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "vector_math.h"

namespace {

using namespace nmt_kernels;

// N = B * beams rows of p; row r reads sentence r / beams (beam search keeps one copy of the keys).
template <typename T>
void forward_kernel(const T* keys, const T* p, int64_t p_stride, const T* v, const bool* mask, T* scores,
                    int64_t N, int64_t beams, int64_t S, int64_t A) {
  std::fill(scores, scores + N * S, -std::numeric_limits<T>::infinity());  // padding keeps -inf
  at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      T* row_scores = scores + r * S;
      for_each_run(mask, r / beams, S, [&](int64_t first, int64_t stop) {
        for (int64_t bs = first; bs < stop; ++bs) row_scores[bs % S] = energy(keys + bs * A, p + r * p_stride, v, A);
      });
    }
  });
}

// One row b of the energies' backward, from dL/dscores g [S] of that row: adds into g_keys and gv (a
// thread's g_v), writes gp [A]. h is computed again, a vector at a time.
template <typename T>
void energies_row_backward(const T* g, const T* keys, const T* p, const T* v, const bool* mask, int64_t b,
                           int64_t S, int64_t A, T* g_keys, T* gp, T* gv) {
  using Vec = Vectorized<T>;
  std::fill(gp, gp + A, T(0));
  for_each_run(mask, b, S, [&](int64_t first, int64_t stop) {
    for (int64_t bs = first; bs < stop; ++bs) {
      const Vec gs(g[bs - b * S]), one(T(1));
      T* gk = g_keys + bs * A;
      for_each_tanh(keys + bs * A, p, A, [&](int64_t a, int64_t n, Vec h) {
        const Vec d = gs * Vec::loadu(v + a, n) * (one - h * h);
        (Vec::loadu(gk + a, n) + d).store(gk + a, n);
        (Vec::loadu(gp + a, n) + d).store(gp + a, n);
        at::vec::fmadd(gs, h, Vec::loadu(gv + a, n)).store(gv + a, n);
      });
    }
  });
}

// Runs row(b, gv) for every row b in parallel, each thread adding into its own copy of g_v [A], which
// are then summed into g_v.
template <typename T, typename F>
void rows_with_g_v(int64_t B, int64_t A, T* g_v, F row) {
  std::vector<T> partial(static_cast<size_t>(at::get_num_threads()) * A, T(0));
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    T* gv = partial.data() + at::get_thread_num() * A;
    for (int64_t b = begin; b < end; ++b) row(b, gv);
  });
  for (size_t t = 0; t < partial.size() / A; ++t)
    for (int64_t a = 0; a < A; ++a) g_v[a] += partial[t * A + a];
}

template <typename T>
void backward_kernel(const T* g_scores, const T* keys, const T* p, int64_t p_stride, const T* v,
                     const bool* mask, T* g_keys, T* g_p, int64_t gp_stride, T* g_v, int64_t B, int64_t S,
                     int64_t A) {
  rows_with_g_v(B, A, g_v, [&](int64_t b, T* gv) {
    energies_row_backward(g_scores + b * S, keys, p + b * p_stride, v, mask, b, S, A, g_keys, g_p + b * gp_stride, gv);
  });
}

// out_m [C] = sum_s a_m[s] x[s] over x [S,C] for M rows of weights a (rows S apart; the beams of one
// sentence) into M rows of out (out_stride apart), V vectors of each out row at a time in registers:
// x is read once for the M rows, and out written once (a sum a position at a time reads and writes out
// at every position, and each beam would read x again).
template <typename T, int M, int V>
void weighted_sums(const T* a, const T* x, int64_t S, int64_t C, T* out, int64_t out_stride) {
  using Vec = Vectorized<T>;
  constexpr int64_t n = Vec::size();
  for (int64_t c = 0; c < C; c += V * n) {
    int64_t lanes[V];  // of each vector, the last block's may be partial or empty
    for (int j = 0; j < V; ++j) lanes[j] = std::clamp<int64_t>(C - c - j * n, 0, n);
    Vec acc[M][V];
    for (int m = 0; m < M; ++m)
      for (int j = 0; j < V; ++j) acc[m][j] = Vec(T(0));
    for (int64_t s = 0; s < S; ++s) {
      bool any = false;  // padding has weight 0 in every row
      for (int m = 0; m < M; ++m) any |= a[m * S + s] != T(0);
      if (!any) continue;
      Vec xs[V];
      for (int j = 0; j < V; ++j) xs[j] = Vec::loadu(x + s * C + c + j * n, lanes[j]);
      for (int m = 0; m < M; ++m) {
        const Vec w(a[m * S + s]);
        for (int j = 0; j < V; ++j) acc[m][j] = at::vec::fmadd(w, xs[j], acc[m][j]);
      }
    }
    for (int m = 0; m < M; ++m)
      for (int j = 0; j < V; ++j)
        if (lanes[j]) acc[m][j].store(out + m * out_stride + c + j * n, lanes[j]);
  }
}

// weighted_sums for rows rows (any number) of weights, four at a time.
template <typename T>
void weighted_sums(const T* a, const T* x, int64_t S, int64_t C, T* out, int64_t out_stride, int64_t rows) {
  for (int64_t m = 0; m < rows; m += 4, a += 4 * S, out += 4 * out_stride) {
    switch (std::min<int64_t>(4, rows - m)) {
      case 1: weighted_sums<T, 1, 4>(a, x, S, C, out, out_stride); break;
      case 2: weighted_sums<T, 2, 4>(a, x, S, C, out, out_stride); break;
      case 3: weighted_sums<T, 3, 2>(a, x, S, C, out, out_stride); break;
      default: weighted_sums<T, 4, 2>(a, x, S, C, out, out_stride);
    }
  }
}

// One decoder step's attention, forward: p = q + b_a, a = softmax over real positions of v tanh(keys + p)
// (0 at padding), c = sum_j a_j h_j. Row r reads sentence r / beams.
template <typename T>
void attend_kernel(const T* keys, const T* q, int64_t q_stride, const T* b_a, const T* v, const bool* mask,
                   const T* states, T* p, int64_t p_stride, T* attn, T* ctx, int64_t ctx_stride, int64_t N,
                   int64_t beams, int64_t S, int64_t A, int64_t C) {
  using Vec = Vectorized<T>;
  at::parallel_for(0, N / beams, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {  // a sentence and its beams
      for (int64_t r = b * beams; r < (b + 1) * beams; ++r) {
        T* pr = p + r * p_stride;
        at::vec::map2<T>([](Vec x, Vec y) { return x + y; }, pr, q + r * q_stride, b_a, A);
        T* a = attn + r * S;
        std::fill(a, a + S, T(0));
        T top = -std::numeric_limits<T>::infinity();
        for_each_run(mask, b, S, [&](int64_t first, int64_t stop) {
          for (int64_t bs = first; bs < stop; ++bs) {
            const T e = a[bs - b * S] = energy(keys + bs * A, pr, v, A);
            top = std::max(top, e);
          }
        });
        T sum = 0;
        for (int64_t s = 0; s < S; ++s)
          if (mask[b * S + s]) sum += (a[s] = std::exp(a[s] - top));
        for (int64_t s = 0; s < S; ++s) a[s] /= sum;
      }
      weighted_sums(attn + b * beams * S, states + b * S * C, S, C, ctx + b * beams * ctx_stride, ctx_stride, beams);
    }
  });
}

// Its backward, from the context's gradient (two parts: g_ctx_part and g_ctx_in, [B,C]) and the
// attention's (g_attn_in [B,S]): writes dL/dc into g_ctx [B,C] and dL/dp into g_p [B,A], adds into g_keys
// and g_v. The annotations' gradient, sum_i a_i dL/dc_i, is left to one product over all steps.
template <typename T>
void attend_backward_kernel(const T* g_ctx_part, int64_t part_stride, const T* g_ctx_in, int64_t in_stride,
                            const T* g_attn_in, int64_t attn_in_stride, const T* attn, const T* states,
                            const T* keys, const T* p, int64_t p_stride, const T* v, const bool* mask, T* g_ctx,
                            int64_t g_ctx_stride, T* g_keys, T* g_p, int64_t gp_stride, T* g_v, int64_t B, int64_t S,
                            int64_t A, int64_t C) {
  using Vec = Vectorized<T>;
  rows_with_g_v(B, A, g_v, [&](int64_t b, T* gv) {
    T* gc = g_ctx + b * g_ctx_stride;
    at::vec::map2<T>([](Vec x, Vec y) { return x + y; }, gc, g_ctx_part + b * part_stride, g_ctx_in + b * in_stride, C);
    const T* a = attn + b * S;
    std::vector<T> g(S, T(0));  // dL/dscores, 0 at padding
    T weighted = 0;             // sum_j a_j dL/da_j
    for (int64_t s = 0; s < S; ++s) {
      if (!mask[b * S + s]) continue;
      g[s] = at::vec::map2_reduce_all<T>([](Vec x, Vec y) { return x * y; }, [](Vec x, Vec y) { return x + y; },
                                         states + (b * S + s) * C, gc, C) +
             g_attn_in[b * attn_in_stride + s];
      weighted += a[s] * g[s];
    }
    for (int64_t s = 0; s < S; ++s) g[s] = a[s] * (g[s] - weighted);
    energies_row_backward(g.data(), keys, p + b * p_stride, v, mask, b, S, A, g_keys, g_p + b * gp_stride, gv);
  });
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

// One decoder step's attention: from q [N,A] (W_a s, no bias), b_a [A], keys [B,S,A], v, mask [B,S] and the
// annotations states [B,S,C], writes p = q + b_a into p [N,A], the weights into attn [N,S] (0 at padding) and
// the context into ctx [N,C]. Row r reads sentence r / beams. Rows of q, p and ctx may be strided.
void attend(at::Tensor keys, at::Tensor q, at::Tensor b_a, at::Tensor v, at::Tensor mask, at::Tensor states,
            int64_t beams, at::Tensor p, at::Tensor attn, at::Tensor ctx) {
  check(keys, q, v, mask, beams);
  check(keys, p, v, mask, beams);
  TORCH_CHECK(b_a.is_contiguous() && b_a.numel() == keys.size(2) && b_a.scalar_type() == keys.scalar_type(), "b_a: [A]");
  TORCH_CHECK(states.is_contiguous() && states.dim() == 3 && states.size(0) == keys.size(0) &&
                  states.size(1) == keys.size(1) && states.scalar_type() == keys.scalar_type(),
              "states: a contiguous [B,S,C] of the keys' type");
  TORCH_CHECK(attn.is_contiguous() && attn.size(0) == q.size(0) && attn.size(1) == keys.size(1) &&
                  attn.scalar_type() == keys.scalar_type(), "attn: a contiguous [N,S]");
  TORCH_CHECK(ctx.dim() == 2 && ctx.size(0) == q.size(0) && ctx.size(1) == states.size(2) && ctx.stride(1) == 1 &&
                  ctx.scalar_type() == keys.scalar_type(), "ctx: [N,C] with contiguous rows");
  AT_DISPATCH_FLOATING_TYPES(keys.scalar_type(), "attend", [&] {
    attend_kernel<scalar_t>(keys.data_ptr<scalar_t>(), q.data_ptr<scalar_t>(), q.stride(0), b_a.data_ptr<scalar_t>(),
                            v.data_ptr<scalar_t>(), mask.data_ptr<bool>(), states.data_ptr<scalar_t>(),
                            p.data_ptr<scalar_t>(), p.stride(0), attn.data_ptr<scalar_t>(), ctx.data_ptr<scalar_t>(),
                            ctx.stride(0), q.size(0), beams, keys.size(1), keys.size(2), states.size(2));
  });
}

// attend's backward (beams 1): from dL/dc = g_ctx_part + g_ctx_in [B,C] and dL/da g_attn_in [B,S], writes dL/dc
// into g_ctx [B,C] and dL/dp into g_p [B,A], adds dL/dkeys into g_keys and dL/dv into g_v.
void attend_backward(at::Tensor g_ctx_part, at::Tensor g_ctx_in, at::Tensor g_attn_in, at::Tensor attn,
                     at::Tensor states, at::Tensor keys, at::Tensor p, at::Tensor v, at::Tensor mask, at::Tensor g_ctx,
                     at::Tensor g_keys, at::Tensor g_p, at::Tensor g_v) {
  check(keys, p, v, mask);
  check(keys, g_p, v, mask);
  const auto B = keys.size(0), S = keys.size(1), C = states.size(2);
  for (const auto* t : {&g_ctx_part, &g_ctx_in, &g_ctx})
    TORCH_CHECK(t->dim() == 2 && t->size(0) == B && t->size(1) == C && t->stride(1) == 1 &&
                    t->scalar_type() == keys.scalar_type(), "context gradients: [B,C] with contiguous rows");
  for (const auto* t : {&g_attn_in, &attn})
    TORCH_CHECK(t->dim() == 2 && t->size(0) == B && t->size(1) == S && t->stride(1) == 1 &&
                    t->scalar_type() == keys.scalar_type(), "attention (and its gradient): [B,S] with contiguous rows");
  TORCH_CHECK(attn.is_contiguous(), "attn: contiguous");
  TORCH_CHECK(states.is_contiguous() && states.size(0) == B && states.size(1) == S, "states: a contiguous [B,S,C]");
  TORCH_CHECK(g_keys.sizes() == keys.sizes() && g_keys.is_contiguous() && g_keys.scalar_type() == keys.scalar_type(),
              "g_keys: a contiguous [B,S,A] of the keys' type");
  TORCH_CHECK(g_v.is_contiguous() && g_v.numel() == v.numel() && g_v.scalar_type() == keys.scalar_type(), "g_v: [A]");
  AT_DISPATCH_FLOATING_TYPES(keys.scalar_type(), "attend_backward", [&] {
    attend_backward_kernel<scalar_t>(
        g_ctx_part.data_ptr<scalar_t>(), g_ctx_part.stride(0), g_ctx_in.data_ptr<scalar_t>(), g_ctx_in.stride(0),
        g_attn_in.data_ptr<scalar_t>(), g_attn_in.stride(0), attn.data_ptr<scalar_t>(), states.data_ptr<scalar_t>(),
        keys.data_ptr<scalar_t>(), p.data_ptr<scalar_t>(), p.stride(0), v.data_ptr<scalar_t>(), mask.data_ptr<bool>(),
        g_ctx.data_ptr<scalar_t>(), g_ctx.stride(0), g_keys.data_ptr<scalar_t>(), g_p.data_ptr<scalar_t>(),
        g_p.stride(0), g_v.data_ptr<scalar_t>(), B, S, keys.size(2), C);
  });
}
