#pragma once
// The few entries of the ONNX Runtime C API that Chalkbot uses, declared here because no package
// we install ships onnxruntime_c_api.h. The library is loaded with dlopen at run time (only when
// a provider needs it), so nothing links against it.
//
// How the C API works: OrtGetApiBase() returns {GetApi, GetVersionString}; GetApi(version)
// returns the OrtApi table, a struct of function pointers in a fixed order that only ever grows
// at the end. We read that table as an array of slots and take the entries we need by index.
//
// Where each slot index comes from: the order of the members of `struct OrtApi` in the public
// header include/onnxruntime/core/session/onnxruntime_c_api.h of microsoft/onnxruntime (the
// first 125 entries date from API version 1-4 and have not moved since). Checked against the
// library we ship (sherpa-onnx-linux-x64@1.13.8's libonnxruntime.so, ORT 1.28.2, not stripped):
// slot i of GetApi(kOrtApiVersion) points at the symbol OrtApis::<Name>. The component test runs
// a real model through this table, so a wrong index fails it.
#include <cstddef>
#include <cstdint>

namespace chalkbot::ort {

// The table layout we rely on exists from this version on; 1.28.2 supports 1..28.
inline constexpr std::uint32_t kOrtApiVersion = 13;

// Opaque handles (only ever used through pointers).
struct Env;
struct Status;
struct MemoryInfo;
struct Session;
struct SessionOptions;
struct Value;
struct RunOptions;
struct TypeInfo;
struct TensorTypeAndShapeInfo;
struct Allocator;

// Values from the header's enums that we pass.
enum class ElementType : int { kFloat = 1, kInt64 = 7, kBool = 9 };
inline constexpr int kLoggingLevelError = 3;  // OrtLoggingLevel ORT_LOGGING_LEVEL_ERROR
inline constexpr int kArenaAllocator = 1;     // OrtAllocatorType OrtArenaAllocator
inline constexpr int kMemTypeDefault = 0;     // OrtMemType OrtMemTypeDefault
inline constexpr int kGraphOptimizeAll = 99;  // GraphOptimizationLevel ORT_ENABLE_ALL

struct ApiBase {
  const void* (*get_api)(std::uint32_t version);
  const char* (*get_version_string)();
};
using GetApiBaseFn = const ApiBase* (*)();

// Every entry returns a Status* (null on success) unless noted.
struct Api {
  // slot 2
  const char* (*GetErrorMessage)(const Status*);
  // slot 3
  Status* (*CreateEnv)(int log_level, const char* log_id, Env** out);
  // slot 7
  Status* (*CreateSession)(const Env*, const char* model_path, const SessionOptions*, Session** out);
  // slot 9
  Status* (*Run)(Session*, const RunOptions*, const char* const* input_names,
                 const Value* const* inputs, std::size_t input_count,
                 const char* const* output_names, std::size_t output_count, Value** outputs);
  // slot 10
  Status* (*CreateSessionOptions)(SessionOptions** out);
  // slot 23
  Status* (*SetSessionGraphOptimizationLevel)(SessionOptions*, int level);
  // slot 24
  Status* (*SetIntraOpNumThreads)(SessionOptions*, int threads);
  // slot 25
  Status* (*SetInterOpNumThreads)(SessionOptions*, int threads);
  // slots 30, 31
  Status* (*SessionGetInputCount)(const Session*, std::size_t* out);
  Status* (*SessionGetOutputCount)(const Session*, std::size_t* out);
  // slot 33
  Status* (*SessionGetInputTypeInfo)(const Session*, std::size_t index, TypeInfo** out);
  // slots 36, 37: names allocated with the allocator; free them with AllocatorFree
  Status* (*SessionGetInputName)(const Session*, std::size_t index, Allocator*, char** out);
  Status* (*SessionGetOutputName)(const Session*, std::size_t index, Allocator*, char** out);
  // slot 49: a tensor over caller-owned memory (the memory must outlive the value)
  Status* (*CreateTensorWithDataAsOrtValue)(const MemoryInfo*, void* data, std::size_t bytes,
                                            const std::int64_t* shape, std::size_t rank,
                                            ElementType type, Value** out);
  // slot 51
  Status* (*GetTensorMutableData)(Value*, void** out);
  // slot 55: the result is owned by the TypeInfo
  Status* (*CastTypeInfoToTensorInfo)(const TypeInfo*, const TensorTypeAndShapeInfo** out);
  // slots 61, 62
  Status* (*GetDimensionsCount)(const TensorTypeAndShapeInfo*, std::size_t* out);
  Status* (*GetDimensions)(const TensorTypeAndShapeInfo*, std::int64_t* out, std::size_t count);
  // slot 65
  Status* (*GetTensorTypeAndShape)(const Value*, TensorTypeAndShapeInfo** out);
  // slot 69
  Status* (*CreateCpuMemoryInfo)(int allocator_type, int mem_type, MemoryInfo** out);
  // slot 76
  Status* (*AllocatorFree)(Allocator*, void* p);
  // slot 78: the process-wide default allocator (not to be released)
  Status* (*GetAllocatorWithDefaultOptions)(Allocator** out);
  // slots 92-100: release functions return nothing and accept null
  void (*ReleaseEnv)(Env*);
  void (*ReleaseStatus)(Status*);
  void (*ReleaseMemoryInfo)(MemoryInfo*);
  void (*ReleaseSession)(Session*);
  void (*ReleaseValue)(Value*);
  void (*ReleaseTypeInfo)(TypeInfo*);
  void (*ReleaseTensorTypeAndShapeInfo)(TensorTypeAndShapeInfo*);
  void (*ReleaseSessionOptions)(SessionOptions*);
};

// Slot index of each Api member above, in member order.
inline constexpr int kApiSlots[] = {
    2,   3,   7,   9,   10,  23,  24, 25, 30, 31, 33, 36, 37, 49, 51, 55,
    61,  62,  65,  69,  76,  78,  92, 93, 94, 95, 96, 98, 99, 100};
static_assert(sizeof(kApiSlots) / sizeof(kApiSlots[0]) * sizeof(void*) == sizeof(Api),
              "one slot index per Api member");

}  // namespace chalkbot::ort
