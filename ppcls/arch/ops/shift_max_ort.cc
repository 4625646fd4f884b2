// ONNX Runtime kernels of ppcls.DynamicShiftMaxK1 and ppcls.DynamicShiftMaxK2, the Dynamic
// Shift-Max nodes of this project's ONNX exports (ppcls/arch/ops/onnx_functions.py), computed by
// shift_max_kernel.h. SessionOptions.register_custom_ops_library loads this library and calls
// RegisterCustomOps; a session without it runs the nodes' definitions in stock operators.
//
// Inputs: X [N, C, ...] float, W1 [C, S], B1 [S], W2 [S, 2K·C], B2 [2K·C], Offset [2K·C] float,
// Shift [C] int64. Attributes: branches (K), act_max. Output: Y, the shape of X.
#include <string>
#include <vector>

#include "ort_abi.h"
#include "shift_max_kernel.h"

namespace {

// The ONNX Runtime C API versions ort_abi.h was written against: 16 brought CreateKernelV2 and
// KernelComputeV2; ort_abi.h was last checked against onnxruntime_c_api.h of version 31. ONNX
// Runtime 1.x implements C API version x; RegisterCustomOps refuses any other runtime.
constexpr uint32_t kOrtApiVersion = 16;
constexpr uint32_t kNewestOrtApiVersion = 31;
constexpr size_t kInputCount = 7;
constexpr const char* kDomain = "ppcls";

struct ShiftMaxOp : OrtCustomOp {
  const char* name;
  int64_t branches;
};

struct ShiftMaxKernel {
  const OrtApi* api;
  int64_t branches;
  float act_max;
};

struct Tensor {
  void* data = nullptr;
  std::vector<int64_t> shape;
  int64_t size() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

// A status from `error` (nullptr when empty), freeing the statuses of failed calls on the way.
class Errors {
 public:
  explicit Errors(const OrtApi* api) : api_(api) {}
  bool ok(OrtStatus* status) {
    if (status == nullptr) return true;
    api_->ReleaseStatus(status);
    return false;
  }
  OrtStatus* fail(const std::string& message) const {
    return api_->CreateStatus(ORT_INVALID_ARGUMENT, ("ppcls.DynamicShiftMax: " + message).c_str());
  }

 private:
  const OrtApi* api_;
};

bool ReadInput(const OrtApi* api, OrtKernelContext* context, size_t index, ONNXTensorElementDataType type,
               Tensor* out) {
  Errors errors(api);
  const OrtValue* value = nullptr;
  OrtTensorTypeAndShapeInfo* info = nullptr;
  if (!errors.ok(api->KernelContext_GetInput(context, index, &value)) || value == nullptr ||
      !errors.ok(api->GetTensorTypeAndShape(value, &info))) {
    return false;
  }
  ONNXTensorElementDataType actual;
  size_t rank = 0;
  bool good = errors.ok(api->GetTensorElementType(info, &actual)) && actual == type &&
              errors.ok(api->GetDimensionsCount(info, &rank));
  if (good) {
    out->shape.resize(rank);
    good = errors.ok(api->GetDimensions(info, out->shape.data(), rank));
  }
  api->ReleaseTensorTypeAndShapeInfo(info);
  return good && errors.ok(api->GetTensorMutableData(const_cast<OrtValue*>(value), &out->data));
}

OrtStatus* Compute(void* kernel_state, OrtKernelContext* context) {
  const auto& kernel = *static_cast<ShiftMaxKernel*>(kernel_state);
  const OrtApi* api = kernel.api;
  Errors errors(api);
  Tensor in[kInputCount];
  for (size_t i = 0; i < kInputCount; ++i) {
    const auto type = i + 1 == kInputCount ? ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 : ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
    if (!ReadInput(api, context, i, type, &in[i])) {
      return errors.fail("cannot read input " + std::to_string(i) + " (float inputs, int64 Shift)");
    }
  }
  const Tensor& x = in[0];
  if (x.shape.size() < 2 || x.shape[0] == 0 || x.shape[1] == 0) return errors.fail("X must be [N, C, ...]");
  const ppcls::ShiftMaxShape s{x.shape[0], x.shape[1], x.size() / (x.shape[0] * x.shape[1]), in[2].size(),
                               kernel.branches};
  if (in[1].size() != s.channels * s.squeeze || in[3].size() != s.squeeze * s.coeff_count() ||
      in[4].size() != s.coeff_count() || in[5].size() != s.coeff_count() || in[6].size() != s.channels) {
    return errors.fail("weights, offsets or shift index do not match X");
  }
  const auto* shift = static_cast<const int64_t*>(in[6].data);
  for (int64_t c = 0; c < s.channels; ++c) {
    if (shift[c] < 0 || shift[c] >= s.channels) return errors.fail("Shift holds a channel outside X");
  }
  OrtValue* y = nullptr;
  void* y_data = nullptr;
  if (!errors.ok(api->KernelContext_GetOutput(context, 0, x.shape.data(), x.shape.size(), &y)) ||
      !errors.ok(api->GetTensorMutableData(y, &y_data))) {
    return errors.fail("cannot allocate the output");
  }
  auto f = [&](int i) { return static_cast<const float*>(in[i].data); };
  ppcls::ShiftMaxForward(s, f(0), f(1), f(2), f(3), f(4), f(5), shift, kernel.act_max, static_cast<float*>(y_data));
  return nullptr;
}

OrtStatus* CreateKernel(const OrtCustomOp* op, const OrtApi* api, const OrtKernelInfo* info, void** kernel) {
  const auto& shift_max = *static_cast<const ShiftMaxOp*>(op);
  Errors errors(api);
  int64_t branches = 0;
  float act_max = 0.f;
  if (!errors.ok(api->KernelInfoGetAttribute_int64(info, "branches", &branches)) ||
      !errors.ok(api->KernelInfoGetAttribute_float(info, "act_max", &act_max))) {
    return errors.fail("needs the attributes branches and act_max");
  }
  if (branches != shift_max.branches) {
    return errors.fail(std::string(shift_max.name) + " has branches=" + std::to_string(branches));
  }
  *kernel = new ShiftMaxKernel{api, branches, act_max};
  return nullptr;
}

ShiftMaxOp MakeOp(const char* name, int64_t branches) {
  ShiftMaxOp op{};
  op.version = kOrtApiVersion;
  op.name = name;
  op.branches = branches;
  op.CreateKernelV2 = CreateKernel;
  op.KernelComputeV2 = Compute;
  op.KernelDestroy = [](void* kernel) { delete static_cast<ShiftMaxKernel*>(kernel); };
  op.GetName = [](const OrtCustomOp* self) { return static_cast<const ShiftMaxOp*>(self)->name; };
  op.GetExecutionProviderType = [](const OrtCustomOp*) -> const char* { return "CPUExecutionProvider"; };
  op.GetInputTypeCount = [](const OrtCustomOp*) { return kInputCount; };
  op.GetInputType = [](const OrtCustomOp*, size_t index) {
    return index + 1 == kInputCount ? ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 : ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  };
  op.GetOutputTypeCount = [](const OrtCustomOp*) { return size_t{1}; };
  op.GetOutputType = [](const OrtCustomOp*, size_t) { return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; };
  op.GetInputCharacteristic = [](const OrtCustomOp*, size_t) { return INPUT_OUTPUT_REQUIRED; };
  op.GetOutputCharacteristic = [](const OrtCustomOp*, size_t) { return INPUT_OUTPUT_REQUIRED; };
  op.GetInputMemoryType = [](const OrtCustomOp*, size_t) { return OrtMemTypeDefault; };
  return op;
}

ShiftMaxOp kShiftMaxK1 = MakeOp("DynamicShiftMaxK1", 1);
ShiftMaxOp kShiftMaxK2 = MakeOp("DynamicShiftMaxK2", 2);

// The C API version of ONNX Runtime `version` ("1.x.y" → x), or 0 if it is not a 1.x release.
uint32_t ApiVersionOf(const char* version) {
  if (version == nullptr || version[0] != '1' || version[1] != '.') return 0;
  uint32_t minor = 0;
  const char* c = version + 2;
  for (; *c >= '0' && *c <= '9' && minor < 1000; ++c) minor = 10 * minor + static_cast<uint32_t>(*c - '0');
  return c == version + 2 || (*c != '.' && *c != '\0') ? 0 : minor;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) OrtStatus* RegisterCustomOps(OrtSessionOptions* options,
                                                                               const OrtApiBase* base) {
  const char* runtime = base->GetVersionString();
  const uint32_t version = ApiVersionOf(runtime);
  if (version < kOrtApiVersion || version > kNewestOrtApiVersion) {
    const std::string oldest = std::to_string(kOrtApiVersion), newest = std::to_string(kNewestOrtApiVersion);
    const std::string message = "ppcls operators were written against ONNX Runtime 1." + oldest + " to 1." +
                                newest + " (C API versions " + oldest + "-" + newest + "), not " +
                                (runtime != nullptr ? runtime : "an unknown version") +
                                ": check ppcls/arch/ops/ort_abi.h against this runtime's onnxruntime_c_api.h";
    return base->GetApi(1)->CreateStatus(ORT_FAIL, message.c_str());
  }
  const OrtApi* api = base->GetApi(kOrtApiVersion);
  OrtCustomOpDomain* domain = nullptr;
  OrtStatus* status = api->CreateCustomOpDomain(kDomain, &domain);
  for (ShiftMaxOp* op : {&kShiftMaxK1, &kShiftMaxK2}) {
    if (status == nullptr) status = api->CustomOpDomain_Add(domain, op);
  }
  return status != nullptr ? status : api->AddCustomOpDomain(options, domain);
}
