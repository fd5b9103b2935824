#pragma once
// ONNX Runtime loaded at run time: the shared library, its API table and the one environment a
// process may have. Loaded on first use by a provider that needs it; never unloaded.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "speech/onnx/ort_api.h"

namespace chalkbot {

class OrtRuntime {
 public:
  // The process-wide runtime from `library_path` (dlopen, OrtGetApiBase, GetApi, CreateEnv).
  // The first successful call decides the library; later calls with another path fail.
  static Result<OrtRuntime*> load(const std::string& library_path);

  const ort::Api& api() const { return api_; }
  ort::Env* env() const { return env_; }
  const ort::MemoryInfo* cpu_memory() const { return cpu_memory_; }
  const std::string& version() const { return version_; }
  const std::string& library_path() const { return library_path_; }

  // Status to Result: null is success; otherwise "<what>: <ORT message>", the status released.
  Status check(ort::Status* status, const std::string& what) const;

  struct ValueDeleter {
    const ort::Api* api;
    void operator()(ort::Value* value) const { api->ReleaseValue(value); }
  };
  using ValuePtr = std::unique_ptr<ort::Value, ValueDeleter>;
  ValuePtr own(ort::Value* value) const { return ValuePtr(value, ValueDeleter{&api_}); }

  // A tensor over `data` (which must outlive it). Zero-element tensors are allowed.
  template <typename T>
  Result<ValuePtr> tensor(T* data, std::size_t count, const std::vector<std::int64_t>& shape,
                          ort::ElementType type) const {
    static T empty{};
    ort::Value* value = nullptr;
    if (auto status = check(api_.CreateTensorWithDataAsOrtValue(
                                cpu_memory_, count == 0 ? &empty : data, count * sizeof(T),
                                shape.data(), shape.size(), type, &value),
                            "onnxruntime: creating a tensor");
        !status) {
      return status.error();
    }
    return own(value);
  }
  // The dimensions of a tensor value.
  Result<std::vector<std::int64_t>> shape_of(const ort::Value* value) const;

 private:
  OrtRuntime() = default;

  ort::Api api_{};
  ort::Env* env_ = nullptr;
  ort::MemoryInfo* cpu_memory_ = nullptr;
  std::string version_;
  std::string library_path_;
};

// One loaded model (an ONNX file) with its input and output names, shared by every thread
// (OrtApi::Run is thread-safe on one session).
class OrtModel {
 public:
  static Result<std::unique_ptr<OrtModel>> load(const OrtRuntime& runtime, const std::string& path,
                                                int intra_op_threads);
  ~OrtModel();
  OrtModel(const OrtModel&) = delete;
  OrtModel& operator=(const OrtModel&) = delete;

  const std::vector<std::string>& input_names() const { return input_names_; }
  const std::vector<std::string>& output_names() const { return output_names_; }
  // Index of a named input or output, or -1.
  int input_index(const std::string& name) const;
  // The declared dimensions of input `index` (-1 for symbolic ones).
  Result<std::vector<std::int64_t>> input_shape(std::size_t index) const;

  // Runs the model on every input (in input_names() order) for every output.
  Result<std::vector<OrtRuntime::ValuePtr>> run(const std::vector<const ort::Value*>& inputs) const;

 private:
  OrtModel(const OrtRuntime& runtime, std::string path) : runtime_(runtime), path_(std::move(path)) {}

  const OrtRuntime& runtime_;
  std::string path_;
  ort::Session* session_ = nullptr;
  std::vector<std::string> input_names_;
  std::vector<std::string> output_names_;
  std::vector<const char*> input_cstrs_;
  std::vector<const char*> output_cstrs_;
};

}  // namespace chalkbot
