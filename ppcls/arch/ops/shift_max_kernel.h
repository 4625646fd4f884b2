// Dynamic Shift-Max of MicroNet (Li et al., ICCV 2021, Eq. 4) on the CPU, with its squeeze network
// and coefficient rescaling folded in (ppcls/arch/backbone/model_zoo/micronet_deploy.py):
//
//   m[n, c]   = mean_p x[n, c, p]
//   h[n]      = relu(m[n] · W1 + b1)                                  W1: [C, S]
//   (a_1 | b_1 | ... | a_K | b_K)[n] = clip(h[n] · W2 + b2, -act_max, act_max) + offset
//                                                                     W2: [S, 2K·C]
//   y[n, c, p] = max_k ( a_k[n, c] · x[n, c, p] + b_k[n, c] · x[n, shift[c], p] )
//
// One pass over each image instead of the ~20 stock operators of the same formula, whose
// dispatch and memory traffic cost more than their arithmetic on MicroNet's small maps. Shared
// by the Paddle operator (shift_max.cc) and the ONNX Runtime one (shift_max_ort.cc).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace ppcls {

struct ShiftMaxShape {
  int64_t batch, channels, pixels, squeeze, branches;
  int64_t coeff_count() const { return 2 * branches * channels; }
};

// out[j] = bias[j] + sum_i in[i] · weight[i, j], weight row-major [rows, cols].
inline void LinearRows(const float* in, const float* weight, const float* bias, int64_t rows,
                       int64_t cols, float* out) {
  std::copy(bias, bias + cols, out);
  for (int64_t i = 0; i < rows; ++i) {
    const float v = in[i];
    const float* w = weight + i * cols;
    for (int64_t j = 0; j < cols; ++j) out[j] += v * w[j];
  }
}

// The mean of x[0 .. n), summed in eight interleaved partial sums (one vector register).
__attribute__((target_clones("avx2", "default"))) inline float Mean(const float* x, int64_t n) {
  float partial[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int64_t p = 0;
  for (; p + 8 <= n; p += 8) {
    for (int i = 0; i < 8; ++i) partial[i] += x[p + i];
  }
  float sum = 0.f;
  for (; p < n; ++p) sum += x[p];
  for (float v : partial) sum += v;
  return sum / n;
}

// y[p] = max_k (a[k] · x[p] + b[k] · shifted[p]), for K = Branches branches.
template <int Branches>
__attribute__((target_clones("avx2", "default"))) void ShiftMaxPixels(
    const float* x, const float* shifted, const float* a, const float* b, int64_t pixels, float* y) {
  for (int64_t p = 0; p < pixels; ++p) {
    float best = a[0] * x[p] + b[0] * shifted[p];
    for (int k = 1; k < Branches; ++k) best = std::max(best, a[k] * x[p] + b[k] * shifted[p]);
    y[p] = best;
  }
}

inline void ShiftMaxChannel(const float* x, const float* shifted, const float* a, const float* b,
                            int64_t branches, int64_t pixels, float* y) {
  if (branches == 1) return ShiftMaxPixels<1>(x, shifted, a, b, pixels, y);
  if (branches == 2) return ShiftMaxPixels<2>(x, shifted, a, b, pixels, y);
  ShiftMaxPixels<1>(x, shifted, a, b, pixels, y);
  for (int64_t k = 1; k < branches; ++k) {
    for (int64_t p = 0; p < pixels; ++p) y[p] = std::max(y[p], a[k] * x[p] + b[k] * shifted[p]);
  }
}

// Inputs as in the formula above; shift[c] is the channel whose values are x[n, c]'s partners.
inline void ShiftMaxForward(const ShiftMaxShape& s, const float* x, const float* w1, const float* b1,
                            const float* w2, const float* b2, const float* offset,
                            const int64_t* shift, float act_max, float* y) {
  const int64_t coeff_count = s.coeff_count();
  std::vector<float> mean(s.channels), hidden(s.squeeze), coeffs(coeff_count);
  std::vector<float> a(s.branches), b(s.branches);
  for (int64_t n = 0; n < s.batch; ++n) {
    const float* xn = x + n * s.channels * s.pixels;
    for (int64_t c = 0; c < s.channels; ++c) mean[c] = Mean(xn + c * s.pixels, s.pixels);
    LinearRows(mean.data(), w1, b1, s.channels, s.squeeze, hidden.data());
    for (float& h : hidden) h = std::max(h, 0.f);
    LinearRows(hidden.data(), w2, b2, s.squeeze, coeff_count, coeffs.data());
    for (int64_t r = 0; r < coeff_count; ++r) {
      coeffs[r] = std::min(std::max(coeffs[r], -act_max), act_max) + offset[r];
    }
    for (int64_t c = 0; c < s.channels; ++c) {
      for (int64_t k = 0; k < s.branches; ++k) {
        a[k] = coeffs[(2 * k) * s.channels + c];
        b[k] = coeffs[(2 * k + 1) * s.channels + c];
      }
      ShiftMaxChannel(xn + c * s.pixels, xn + shift[c] * s.pixels, a.data(), b.data(), s.branches,
                      s.pixels, y + (n * s.channels + c) * s.pixels);
    }
  }
}

}  // namespace ppcls
