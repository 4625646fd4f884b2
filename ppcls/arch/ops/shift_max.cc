// Paddle operator micronet_shift_max: one Dynamic Shift-Max (shift_max_kernel.h) for
// Global.export_target=paddle_cpu.
#include <vector>

#include "paddle/extension.h"
#include "shift_max_kernel.h"

std::vector<paddle::Tensor> ShiftMaxForward(const paddle::Tensor& x, const paddle::Tensor& w1,
                                            const paddle::Tensor& b1, const paddle::Tensor& w2,
                                            const paddle::Tensor& b2, const paddle::Tensor& offset,
                                            const paddle::Tensor& shift, int branches, float act_max) {
  PD_CHECK(x.is_cpu() && x.dtype() == paddle::DataType::FLOAT32, "micronet_shift_max: float32 CPU input only");
  PD_CHECK(shift.dtype() == paddle::DataType::INT64, "micronet_shift_max: the shift index must be int64");
  const int64_t batch = x.shape()[0], channels = x.shape()[1];
  const ppcls::ShiftMaxShape s{batch, channels, x.numel() / (batch * channels), b1.numel(), branches};
  PD_CHECK(w1.numel() == channels * s.squeeze && w2.numel() == s.squeeze * s.coeff_count() &&
               b2.numel() == s.coeff_count() && offset.numel() == s.coeff_count() && shift.numel() == channels,
           "micronet_shift_max: weights, offsets or shift index do not match the input");
  auto out = paddle::empty(x.shape(), x.dtype(), x.place());
  ppcls::ShiftMaxForward(s, x.data<float>(), w1.data<float>(), b1.data<float>(), w2.data<float>(),
                         b2.data<float>(), offset.data<float>(), shift.data<int64_t>(), act_max,
                         out.data<float>());
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
