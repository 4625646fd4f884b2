// The part of ONNX Runtime's C ABI that shift_max_ort.cc calls, declared here because the
// onnxruntime wheel ships no C headers. The layouts follow ONNX Runtime's onnxruntime_c_api.h:
//
// * OrtApi is a table of function pointers that only ever grows at its end; its first 102 entries
//   (ORT_API_VERSION 1) are frozen. Every entry used here is one of them, at the index given by
//   its ORT_API_SLOT below; the other entries are padding.
// * OrtCustomOp is read by ONNX Runtime up to the member its `version` allows: with version 16
//   (ONNX Runtime >= 1.16), members 0-18, ending with CreateKernelV2 and KernelComputeV2.
//
// shift_max_ort.cc accepts the runtimes whose C API versions these layouts were checked against
// (kOrtApiVersion to kNewestOrtApiVersion) and refuses any other at RegisterCustomOps.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {

struct OrtStatus;
struct OrtValue;
struct OrtTensorTypeAndShapeInfo;
struct OrtKernelInfo;
struct OrtKernelContext;
struct OrtCustomOpDomain;
struct OrtSessionOptions;

enum OrtErrorCode { ORT_OK = 0, ORT_FAIL = 1, ORT_INVALID_ARGUMENT = 2 };
enum ONNXTensorElementDataType { ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT = 1, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 = 7 };
enum OrtCustomOpInputOutputCharacteristic { INPUT_OUTPUT_REQUIRED = 0 };
enum OrtMemType { OrtMemTypeDefault = 0 };

#define ORT_API_PAD(first, last) void* unused_##first##_##last[(last) - (first) + 1]

struct OrtApi {
  OrtStatus* (*CreateStatus)(OrtErrorCode code, const char* message);  // 0
  ORT_API_PAD(1, 25);
  OrtStatus* (*CreateCustomOpDomain)(const char* domain, OrtCustomOpDomain** out);  // 26
  OrtStatus* (*CustomOpDomain_Add)(OrtCustomOpDomain* domain, const struct OrtCustomOp* op);  // 27
  OrtStatus* (*AddCustomOpDomain)(OrtSessionOptions* options, OrtCustomOpDomain* domain);  // 28
  ORT_API_PAD(29, 50);
  OrtStatus* (*GetTensorMutableData)(OrtValue* value, void** out);  // 51
  ORT_API_PAD(52, 59);
  OrtStatus* (*GetTensorElementType)(const OrtTensorTypeAndShapeInfo* info, ONNXTensorElementDataType* out);  // 60
  OrtStatus* (*GetDimensionsCount)(const OrtTensorTypeAndShapeInfo* info, size_t* out);  // 61
  OrtStatus* (*GetDimensions)(const OrtTensorTypeAndShapeInfo* info, int64_t* dims, size_t count);  // 62
  ORT_API_PAD(63, 64);
  OrtStatus* (*GetTensorTypeAndShape)(const OrtValue* value, OrtTensorTypeAndShapeInfo** out);  // 65
  ORT_API_PAD(66, 84);
  OrtStatus* (*KernelInfoGetAttribute_float)(const OrtKernelInfo* info, const char* name, float* out);  // 85
  OrtStatus* (*KernelInfoGetAttribute_int64)(const OrtKernelInfo* info, const char* name, int64_t* out);  // 86
  ORT_API_PAD(87, 89);
  OrtStatus* (*KernelContext_GetInput)(const OrtKernelContext* context, size_t index, const OrtValue** out);  // 90
  OrtStatus* (*KernelContext_GetOutput)(OrtKernelContext* context, size_t index, const int64_t* dims,
                                        size_t count, OrtValue** out);  // 91
  ORT_API_PAD(92, 92);
  void (*ReleaseStatus)(OrtStatus* status);  // 93
  ORT_API_PAD(94, 98);
  void (*ReleaseTensorTypeAndShapeInfo)(OrtTensorTypeAndShapeInfo* info);  // 99
};

#undef ORT_API_PAD

#define ORT_API_SLOT(member, index) \
  static_assert(offsetof(OrtApi, member) == (index) * sizeof(void*), #member " is entry " #index " of OrtApi")
ORT_API_SLOT(CreateStatus, 0);
ORT_API_SLOT(CreateCustomOpDomain, 26);
ORT_API_SLOT(CustomOpDomain_Add, 27);
ORT_API_SLOT(AddCustomOpDomain, 28);
ORT_API_SLOT(GetTensorMutableData, 51);
ORT_API_SLOT(GetTensorElementType, 60);
ORT_API_SLOT(GetDimensionsCount, 61);
ORT_API_SLOT(GetDimensions, 62);
ORT_API_SLOT(GetTensorTypeAndShape, 65);
ORT_API_SLOT(KernelInfoGetAttribute_float, 85);
ORT_API_SLOT(KernelInfoGetAttribute_int64, 86);
ORT_API_SLOT(KernelContext_GetInput, 90);
ORT_API_SLOT(KernelContext_GetOutput, 91);
ORT_API_SLOT(ReleaseStatus, 93);
ORT_API_SLOT(ReleaseTensorTypeAndShapeInfo, 99);
#undef ORT_API_SLOT

struct OrtApiBase {
  const OrtApi* (*GetApi)(uint32_t version);
  const char* (*GetVersionString)();
};

struct OrtCustomOp {
  uint32_t version;
  void* (*CreateKernel)(const OrtCustomOp* op, const OrtApi* api, const OrtKernelInfo* info);
  const char* (*GetName)(const OrtCustomOp* op);
  const char* (*GetExecutionProviderType)(const OrtCustomOp* op);
  ONNXTensorElementDataType (*GetInputType)(const OrtCustomOp* op, size_t index);
  size_t (*GetInputTypeCount)(const OrtCustomOp* op);
  ONNXTensorElementDataType (*GetOutputType)(const OrtCustomOp* op, size_t index);
  size_t (*GetOutputTypeCount)(const OrtCustomOp* op);
  void (*KernelCompute)(void* kernel, OrtKernelContext* context);
  void (*KernelDestroy)(void* kernel);
  OrtCustomOpInputOutputCharacteristic (*GetInputCharacteristic)(const OrtCustomOp* op, size_t index);
  OrtCustomOpInputOutputCharacteristic (*GetOutputCharacteristic)(const OrtCustomOp* op, size_t index);
  OrtMemType (*GetInputMemoryType)(const OrtCustomOp* op, size_t index);
  int (*GetVariadicInputMinArity)(const OrtCustomOp* op);
  int (*GetVariadicInputHomogeneity)(const OrtCustomOp* op);
  int (*GetVariadicOutputMinArity)(const OrtCustomOp* op);
  int (*GetVariadicOutputHomogeneity)(const OrtCustomOp* op);
  OrtStatus* (*CreateKernelV2)(const OrtCustomOp* op, const OrtApi* api, const OrtKernelInfo* info, void** kernel);
  OrtStatus* (*KernelComputeV2)(void* kernel, OrtKernelContext* context);
};
static_assert(offsetof(OrtCustomOp, KernelComputeV2) == 18 * sizeof(void*), "OrtCustomOp members 0-18");

}  // extern "C"
