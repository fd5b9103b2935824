#include "speech/onnx/ort_runtime.h"

#include <dlfcn.h>

#include <cstring>
#include <mutex>

namespace chalkbot {

Result<OrtRuntime*> OrtRuntime::load(const std::string& library_path) {
  static std::mutex mutex;
  static OrtRuntime* loaded = nullptr;  // one per process, never freed: ORT allows one env
  const std::lock_guard lock(mutex);
  if (loaded != nullptr) {
    if (loaded->library_path_ == library_path) return loaded;
    return make_error("onnxruntime: already loaded from '" + loaded->library_path_ +
                      "'; cannot also load '" + library_path + "'");
  }
  void* handle = dlopen(library_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return make_error("onnxruntime: cannot load '" + library_path + "': " +
                      (why != nullptr ? why : "unknown error") +
                      " (run scripts/install-deps, or make deps, to install it)");
  }
  auto get_api_base = reinterpret_cast<ort::GetApiBaseFn>(dlsym(handle, "OrtGetApiBase"));
  const ort::ApiBase* base = get_api_base != nullptr ? get_api_base() : nullptr;
  const auto* const* slots =
      base != nullptr ? static_cast<const void* const*>(base->get_api(ort::kOrtApiVersion)) : nullptr;
  if (slots == nullptr) {
    dlclose(handle);
    return make_error("onnxruntime: '" + library_path + "' does not offer C API version " +
                      std::to_string(ort::kOrtApiVersion));
  }
  auto runtime = std::unique_ptr<OrtRuntime>(new OrtRuntime());
  // Fill the typed members from the table's slots, in member order (see ort_api.h).
  auto* members = reinterpret_cast<const void**>(&runtime->api_);
  for (std::size_t i = 0; i < std::size(ort::kApiSlots); ++i) {
    members[i] = slots[ort::kApiSlots[i]];
  }
  runtime->version_ = base->get_version_string();
  runtime->library_path_ = library_path;
  if (auto status = runtime->check(
          runtime->api_.CreateEnv(ort::kLoggingLevelError, "chalkbot", &runtime->env_),
          "onnxruntime: creating the environment");
      !status) {
    return status.error();
  }
  if (auto status = runtime->check(runtime->api_.CreateCpuMemoryInfo(ort::kArenaAllocator,
                                                                     ort::kMemTypeDefault,
                                                                     &runtime->cpu_memory_),
                                   "onnxruntime: creating the CPU memory info");
      !status) {
    return status.error();
  }
  loaded = runtime.release();
  return loaded;
}

Status OrtRuntime::check(ort::Status* status, const std::string& what) const {
  if (status == nullptr) return {};
  std::string message = what + ": " + api_.GetErrorMessage(status);
  api_.ReleaseStatus(status);
  return make_error(message);
}

Result<std::vector<std::int64_t>> OrtRuntime::shape_of(const ort::Value* value) const {
  ort::TensorTypeAndShapeInfo* info = nullptr;
  if (auto status = check(api_.GetTensorTypeAndShape(value, &info), "onnxruntime: tensor shape");
      !status) {
    return status.error();
  }
  std::size_t rank = 0;
  std::vector<std::int64_t> dims;
  auto status = check(api_.GetDimensionsCount(info, &rank), "onnxruntime: tensor rank");
  if (status) {
    dims.resize(rank);
    status = check(api_.GetDimensions(info, dims.data(), rank), "onnxruntime: tensor dimensions");
  }
  api_.ReleaseTensorTypeAndShapeInfo(info);
  if (!status) return status.error();
  return dims;
}

Result<std::unique_ptr<OrtModel>> OrtModel::load(const OrtRuntime& runtime, const std::string& path,
                                                 int intra_op_threads) {
  const ort::Api& api = runtime.api();
  auto model = std::unique_ptr<OrtModel>(new OrtModel(runtime, path));
  ort::SessionOptions* options = nullptr;
  auto status = runtime.check(api.CreateSessionOptions(&options), "onnxruntime: session options");
  if (status) {
    status = runtime.check(api.SetIntraOpNumThreads(options, intra_op_threads),
                           "onnxruntime: intra-op threads");
  }
  if (status) {
    status = runtime.check(api.SetInterOpNumThreads(options, 1), "onnxruntime: inter-op threads");
  }
  if (status) {
    status = runtime.check(api.SetSessionGraphOptimizationLevel(options, ort::kGraphOptimizeAll),
                           "onnxruntime: optimization level");
  }
  if (status) {
    status = runtime.check(api.CreateSession(runtime.env(), path.c_str(), options, &model->session_),
                           "cannot load model '" + path + "'");
  }
  api.ReleaseSessionOptions(options);
  if (!status) return status.error();

  ort::Allocator* allocator = nullptr;
  if (auto got = runtime.check(api.GetAllocatorWithDefaultOptions(&allocator),
                               "onnxruntime: default allocator");
      !got) {
    return got.error();
  }
  auto read_names = [&](auto count_fn, auto name_fn, std::vector<std::string>& names) -> Status {
    std::size_t count = 0;
    if (auto got = runtime.check(count_fn(model->session_, &count), "onnxruntime: names"); !got) {
      return got;
    }
    for (std::size_t i = 0; i < count; ++i) {
      char* name = nullptr;
      if (auto got = runtime.check(name_fn(model->session_, i, allocator, &name),
                                   "onnxruntime: names");
          !got) {
        return got;
      }
      names.emplace_back(name);
      (void)api.AllocatorFree(allocator, name);
    }
    return {};
  };
  if (auto got = read_names(api.SessionGetInputCount, api.SessionGetInputName, model->input_names_);
      !got) {
    return got.error();
  }
  if (auto got =
          read_names(api.SessionGetOutputCount, api.SessionGetOutputName, model->output_names_);
      !got) {
    return got.error();
  }
  for (const auto& name : model->input_names_) model->input_cstrs_.push_back(name.c_str());
  for (const auto& name : model->output_names_) model->output_cstrs_.push_back(name.c_str());
  return model;
}

OrtModel::~OrtModel() { runtime_.api().ReleaseSession(session_); }

int OrtModel::input_index(const std::string& name) const {
  for (std::size_t i = 0; i < input_names_.size(); ++i) {
    if (input_names_[i] == name) return static_cast<int>(i);
  }
  return -1;
}

Result<std::vector<std::int64_t>> OrtModel::input_shape(std::size_t index) const {
  const ort::Api& api = runtime_.api();
  ort::TypeInfo* type = nullptr;
  if (auto status = runtime_.check(api.SessionGetInputTypeInfo(session_, index, &type),
                                   "onnxruntime: input type");
      !status) {
    return status.error();
  }
  const ort::TensorTypeAndShapeInfo* info = nullptr;
  std::size_t rank = 0;
  std::vector<std::int64_t> dims;
  auto status =
      runtime_.check(api.CastTypeInfoToTensorInfo(type, &info), "onnxruntime: input tensor type");
  if (status && info == nullptr) status = make_error("onnxruntime: input " + input_names_[index] +
                                                     " is not a tensor");
  if (status) status = runtime_.check(api.GetDimensionsCount(info, &rank), "onnxruntime: rank");
  if (status) {
    dims.resize(rank);
    status = runtime_.check(api.GetDimensions(info, dims.data(), rank), "onnxruntime: dimensions");
  }
  api.ReleaseTypeInfo(type);
  if (!status) return status.error();
  return dims;
}

Result<std::vector<OrtRuntime::ValuePtr>> OrtModel::run(
    const std::vector<const ort::Value*>& inputs) const {
  if (inputs.size() != input_cstrs_.size()) {
    return make_error("onnxruntime: " + path_ + " takes " + std::to_string(input_cstrs_.size()) +
                      " inputs, got " + std::to_string(inputs.size()));
  }
  std::vector<ort::Value*> outputs(output_cstrs_.size(), nullptr);
  auto status = runtime_.check(
      runtime_.api().Run(session_, nullptr, input_cstrs_.data(), inputs.data(), inputs.size(),
                         output_cstrs_.data(), outputs.size(), outputs.data()),
      "onnxruntime: running " + path_);
  std::vector<OrtRuntime::ValuePtr> owned;
  owned.reserve(outputs.size());
  for (ort::Value* value : outputs) owned.push_back(runtime_.own(value));
  if (!status) return status.error();
  return owned;
}

}  // namespace chalkbot
