// Dynamic Shift-Max of MicroNet (Li et al., ICCV 2021, Eq. 4) as one CPU operator, with its
// squeeze network and coefficient rescaling folded in (ppcls/arch/backbone/model_zoo/micronet_deploy.py):
//
//   m[n, c]   = mean_p x[n, c, p]
//   h[n]      = relu(m[n] · W1 + b1)                                  W1: [C, S]
//   (a_1 | b_1 | ... | a_K | b_K)[n] = clip(h[n] · W2 + b2, -act_max, act_max) + offset
//                                                                     W2: [S, 2K·C]
//   y[n, c, p] = max_k ( a_k[n, c] · x[n, c, p] + b_k[n, c] · x[n, shift[c], p] )
//
// One operator instead of the ~20 stock ones, whose dispatch costs Paddle's CPU executor more
// than their arithmetic on MicroNet's small maps.
#include <algorithm>
#include <vector>

#include "paddle/extension.h"

namespace {

// out[j] = bias[j] + sum_i in[i] · weight[i, j], weight row-major [rows, cols].
void LinearRows(const float* in, const float* weight, const float* bias, int64_t rows, int64_t cols,
                float* out) {
  std::copy(bias, bias + cols, out);
  for (int64_t i = 0; i < rows; ++i) {
    const float v = in[i];
    const float* w = weight + i * cols;
    for (int64_t j = 0; j < cols; ++j) out[j] += v * w[j];
  }
}

void ShiftMaxChannel(const float* x, const float* shifted, const float* coeffs, int64_t branches,
                     int64_t stride, int64_t pixels, float* y) {
  const float a0 = coeffs[0], b0 = coeffs[stride];
  for (int64_t p = 0; p < pixels; ++p) y[p] = a0 * x[p] + b0 * shifted[p];
  for (int64_t k = 1; k < branches; ++k) {
    const float a = coeffs[2 * k * stride], b = coeffs[(2 * k + 1) * stride];
    for (int64_t p = 0; p < pixels; ++p) y[p] = std::max(y[p], a * x[p] + b * shifted[p]);
  }
}

}  // namespace

std::vector<paddle::Tensor> ShiftMaxForward(const paddle::Tensor& x, const paddle::Tensor& w1,
                                            const paddle::Tensor& b1, const paddle::Tensor& w2,
                                            const paddle::Tensor& b2, const paddle::Tensor& offset,
                                            const paddle::Tensor& shift, int branches, float act_max) {
  PD_CHECK(x.is_cpu() && x.dtype() == paddle::DataType::FLOAT32, "micronet_shift_max: float32 CPU input only");
  PD_CHECK(shift.dtype() == paddle::DataType::INT64, "micronet_shift_max: the shift index must be int64");
  const int64_t batch = x.shape()[0], channels = x.shape()[1];
  const int64_t pixels = x.numel() / (batch * channels), squeeze = b1.numel();
  const int64_t coeff_count = 2 * branches * channels;
  PD_CHECK(w1.numel() == channels * squeeze && w2.numel() == squeeze * coeff_count &&
               b2.numel() == coeff_count && offset.numel() == coeff_count && shift.numel() == channels,
           "micronet_shift_max: weights, offsets or shift index do not match the input");
  auto out = paddle::empty(x.shape(), x.dtype(), x.place());
  const float* xd = x.data<float>();
  const float* od = offset.data<float>();
  const int64_t* sd = shift.data<int64_t>();
  float* yd = out.data<float>();
  std::vector<float> mean(channels), hidden(squeeze), coeffs(coeff_count);
  for (int64_t n = 0; n < batch; ++n) {
    const float* xn = xd + n * channels * pixels;
    for (int64_t c = 0; c < channels; ++c) {
      float sum = 0.f;
      for (int64_t p = 0; p < pixels; ++p) sum += xn[c * pixels + p];
      mean[c] = sum / pixels;
    }
    LinearRows(mean.data(), w1.data<float>(), b1.data<float>(), channels, squeeze, hidden.data());
    for (float& h : hidden) h = std::max(h, 0.f);
    LinearRows(hidden.data(), w2.data<float>(), b2.data<float>(), squeeze, coeff_count, coeffs.data());
    for (int64_t r = 0; r < coeff_count; ++r) coeffs[r] = std::min(std::max(coeffs[r], -act_max), act_max) + od[r];
    for (int64_t c = 0; c < channels; ++c) {
      ShiftMaxChannel(xn + c * pixels, xn + sd[c] * pixels, coeffs.data() + c, branches, channels, pixels,
                      yd + (n * channels + c) * pixels);
    }
  }
  return {out};
}

std::vector<std::vector<int64_t>> ShiftMaxInferShape(
    const std::vector<int64_t>& x, const std::vector<int64_t>& w1, const std::vector<int64_t>& b1,
    const std::vector<int64_t>& w2, const std::vector<int64_t>& b2, const std::vector<int64_t>& offset,
    const std::vector<int64_t>& shift) {
  return {x};
}

std::vector<paddle::DataType> ShiftMaxInferDtype(const paddle::DataType& x, const paddle::DataType& w1,
                                                 const paddle::DataType& b1, const paddle::DataType& w2,
                                                 const paddle::DataType& b2, const paddle::DataType& offset,
                                                 const paddle::DataType& shift) {
  return {x};
}

PD_BUILD_OP(micronet_shift_max)
    .Inputs({"X", "W1", "B1", "W2", "B2", "Offset", "Shift"})
    .Outputs({"Out"})
    .Attrs({"branches: int", "act_max: float"})
    .SetKernelFn(PD_KERNEL(ShiftMaxForward))
    .SetInferShapeFn(PD_INFER_SHAPE(ShiftMaxInferShape))
    .SetInferDtypeFn(PD_INFER_DTYPE(ShiftMaxInferDtype));
