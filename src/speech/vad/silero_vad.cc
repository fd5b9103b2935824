#include "speech/vad/silero_vad.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <span>
#include <utility>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/settings.h"
#include "speech/onnx/ort_runtime.h"

namespace chalkbot {
namespace {

constexpr const char* kInstallHint = "run scripts/install-deps (or make deps) to install it";

constexpr std::size_t kStateSize = 64;  // per layer and window

// FNV-1a over the samples: which window a batch computed (a copy would cost 512 bytes per call).
std::uint64_t window_hash(Samples window) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const Sample s : window) {
    hash = (hash ^ static_cast<std::uint16_t>(s)) * 1099511628211ULL;
  }
  return hash;
}

thread_local SileroBatch* open_batch = nullptr;

}  // namespace

// The loaded model and where its inputs and outputs sit in the session's order.
class SileroModel {
 public:
  // The process's model from `path`, loaded on first use and kept for the process's life.
  static Result<const SileroModel*> shared(const std::string& path, const std::string& library);

  // `batch` windows at `sample_rate`, laid end to end in `windows`; the LSTM states h and c
  // ([2, batch, 64] each) go in and come out moved on; one probability per window.
  Status run(std::span<const float> windows, std::size_t batch, std::int64_t sample_rate,
             std::span<float> h, std::span<float> c, std::span<float> probabilities) const;

 private:
  const OrtRuntime* runtime_ = nullptr;
  std::unique_ptr<OrtModel> model_;
  int audio_in_ = -1, rate_in_ = -1, h_in_ = -1, c_in_ = -1;
  int probability_out_ = -1, h_out_ = -1, c_out_ = -1;
};

Result<const SileroModel*> SileroModel::shared(const std::string& path,
                                               const std::string& library) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<SileroModel>> loaded;  // never freed
  const std::lock_guard lock(mutex);
  if (auto found = loaded.find(path); found != loaded.end()) return found->second.get();

  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return make_error("vad.model_file: '" + path + "' not found (" + kInstallHint + ")");
  }
  auto runtime = OrtRuntime::load(library);
  if (!runtime) return make_error("vad.provider silero: " + runtime.error().message);
  auto model = std::make_unique<SileroModel>();
  model->runtime_ = *runtime;
  // One thread: a 32 ms window is far too small to share out, and many calls run at once.
  auto session = OrtModel::load(**runtime, path, 1);
  if (!session) {
    return make_error("vad.model_file: " + session.error().message + " (a damaged file? delete it and " +
                      kInstallHint + " again)");
  }
  model->model_ = std::move(*session);
  const OrtModel& m = *model->model_;
  const auto output_index = [&](const std::string& name) {
    const auto& names = m.output_names();
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == name) return static_cast<int>(i);
    }
    return -1;
  };
  model->audio_in_ = m.input_index("input");
  model->rate_in_ = m.input_index("sr");
  model->h_in_ = m.input_index("h");
  model->c_in_ = m.input_index("c");
  model->probability_out_ = output_index("output");
  model->h_out_ = output_index("hn");
  model->c_out_ = output_index("cn");
  if (m.input_names().size() != 4 || model->audio_in_ < 0 || model->rate_in_ < 0 ||
      model->h_in_ < 0 || model->c_in_ < 0 || model->probability_out_ < 0 || model->h_out_ < 0 ||
      model->c_out_ < 0) {
    return make_error("vad.model_file: '" + path + "' is not a Silero VAD model with inputs "
                      "input, sr, h, c and outputs output, hn, cn");
  }
  spdlog::info("vad: silero loaded from {} (onnxruntime {})", path, (*runtime)->version());
  return (loaded[path] = std::move(model)).get();
}

Status SileroModel::run(std::span<const float> windows, std::size_t batch,
                       std::int64_t sample_rate, std::span<float> h, std::span<float> c,
                       std::span<float> probabilities) const {
  const OrtRuntime& ort = *runtime_;
  const auto n = static_cast<std::int64_t>(batch);
  const std::vector<std::int64_t> state_shape{2, n, 64};
  auto audio = ort.tensor(const_cast<float*>(windows.data()), windows.size(),
                          {n, static_cast<std::int64_t>(windows.size() / batch)},
                          ort::ElementType::kFloat);
  auto rate = ort.tensor(&sample_rate, 1, {}, ort::ElementType::kInt64);  // a scalar
  auto h_value = ort.tensor(h.data(), h.size(), state_shape, ort::ElementType::kFloat);
  auto c_value = ort.tensor(c.data(), c.size(), state_shape, ort::ElementType::kFloat);
  for (const auto* made : {&audio, &rate, &h_value, &c_value}) {
    if (!*made) return made->error();
  }
  std::vector<const ort::Value*> inputs(4);
  inputs[static_cast<std::size_t>(audio_in_)] = audio->get();
  inputs[static_cast<std::size_t>(rate_in_)] = rate->get();
  inputs[static_cast<std::size_t>(h_in_)] = h_value->get();
  inputs[static_cast<std::size_t>(c_in_)] = c_value->get();
  auto outputs = model_->run(inputs);
  if (!outputs) return make_error("silero vad: " + outputs.error().message);

  // Copies output `index` to `out`, checking that the tensor holds exactly that many values.
  const auto read = [&](int index, std::span<float> out) -> Status {
    ort::Value* value = (*outputs)[static_cast<std::size_t>(index)].get();
    auto shape = ort.shape_of(value);
    if (!shape) return shape.error();
    std::size_t elements = 1;
    for (const std::int64_t d : *shape) elements *= static_cast<std::size_t>(d);
    if (elements != out.size()) {
      return make_error("silero vad: output " + std::to_string(index) + " has " +
                        std::to_string(elements) + " values, expected " +
                        std::to_string(out.size()));
    }
    void* data = nullptr;
    if (auto got = ort.check(ort.api().GetTensorMutableData(value, &data), "silero vad: output");
        !got) {
      return got;
    }
    std::copy_n(static_cast<const float*>(data), out.size(), out.begin());
    return {};
  };
  Status status = read(probability_out_, probabilities);
  if (status) status = read(h_out_, h);
  if (status) status = read(c_out_, c);
  return status;
}

Result<std::unique_ptr<SileroVad>> SileroVad::create(const VadSettings& settings, int sample_rate) {
  if (sample_rate != 8000 && sample_rate != 16000) {
    return make_error("silero vad: sample rate " + std::to_string(sample_rate) +
                      " Hz unsupported (8000 or 16000)");
  }
  if (settings.threshold - kSileroHysteresis <= 0 || settings.threshold >= 1) {
    return make_error("vad.threshold: " + std::to_string(settings.threshold) +
                      " is out of range (above " + std::to_string(kSileroHysteresis) +
                      ", below 1)");
  }
  auto model = SileroModel::shared(settings.model_file, settings.onnxruntime_library);
  if (!model) return model.error();
  return std::unique_ptr<SileroVad>(new SileroVad(**model, sample_rate, settings.threshold));
}

Result<float> SileroVad::probability(Samples frame) {
  const Ahead ahead = std::exchange(ahead_, {});
  if (ahead.batch != nullptr) {
    ahead.batch->forget(ahead.index);
    // Computed in the batch for this very window: the state moves on as it would have here.
    if (ahead.batch->ran_ && window_hash(frame) == ahead.hash) {
      for (std::size_t layer = 0; layer < 2; ++layer) {
        std::copy_n(ahead.batch->state_after(ahead.batch->h_, ahead.index, layer), kStateSize,
                    h_.data() + layer * kStateSize);
        std::copy_n(ahead.batch->state_after(ahead.batch->c_, ahead.index, layer), kStateSize,
                    c_.data() + layer * kStateSize);
      }
      return ahead.probability;
    }
  }
  float probability = 0;
  SileroVad* self = this;
  if (auto run = probabilities({&self, 1}, {&frame, 1}, {&probability, 1}); !run) {
    return run.error();
  }
  return probability;
}

Status SileroVad::probabilities(std::span<SileroVad* const> detectors,
                                std::span<const Samples> frames, std::span<float> out) {
  const std::size_t n = detectors.size();
  if (n == 0) return {};
  const SileroVad& first = *detectors[0];
  const std::size_t width = first.frame_samples();
  std::vector<float> windows(n * width);
  std::vector<float> h(2 * n * kStateSize), c(2 * n * kStateSize);
  for (std::size_t b = 0; b < n; ++b) {
    const SileroVad& d = *detectors[b];
    if (&d.model_ != &first.model_ || d.sample_rate_ != first.sample_rate_ ||
        frames[b].size() != width) {
      return make_error("silero vad: frame of " + std::to_string(frames[b].size()) +
                        " samples, expected " + std::to_string(width) + " (one model and rate)");
    }
    for (std::size_t i = 0; i < width; ++i) {
      windows[b * width + i] = static_cast<float>(frames[b][i]) / 32768.0F;
    }
    for (std::size_t layer = 0; layer < 2; ++layer) {  // [2, n, 64] from each one's [2, 1, 64]
      std::copy_n(d.h_.data() + layer * kStateSize, kStateSize, h.data() + (layer * n + b) * kStateSize);
      std::copy_n(d.c_.data() + layer * kStateSize, kStateSize, c.data() + (layer * n + b) * kStateSize);
    }
  }
  if (auto ran = first.model_.run(windows, n, first.sample_rate_, h, c, out.first(n)); !ran) {
    return ran;
  }
  for (std::size_t b = 0; b < n; ++b) {
    SileroVad& d = *detectors[b];
    for (std::size_t layer = 0; layer < 2; ++layer) {
      std::copy_n(h.data() + (layer * n + b) * kStateSize, kStateSize, d.h_.data() + layer * kStateSize);
      std::copy_n(c.data() + (layer * n + b) * kStateSize, kStateSize, d.c_.data() + layer * kStateSize);
    }
  }
  return {};
}


bool digital_silence(Samples window) {
  return std::all_of(window.begin(), window.end(),
                     [](Sample s) { return s >= -kDigitalSilencePeak && s <= kDigitalSilencePeak; });
}

SileroBatch* SileroBatch::open_here() { return open_batch; }

void SileroBatch::open() {
  close();
  open_batch = this;
}

void SileroBatch::add(SileroVad& vad, Samples window) {
  if (vad.ahead_.batch != nullptr) return;  // one window per detector and run
  // One model run takes one rate: a wideband call among narrowband ones computes alone.
  if (!detectors_.empty() && detectors_.front() != nullptr &&
      detectors_.front()->sample_rate_ != vad.sample_rate_) {
    return;
  }
  vad.ahead_ = {this, detectors_.size(), window_hash(window), 0};
  detectors_.push_back(&vad);
  for (const Sample s : window) windows_.push_back(static_cast<float>(s) / 32768.0F);
}

const float* SileroBatch::state_after(const std::vector<float>& state, std::size_t index,
                                      std::size_t layer) const {
  return state.data() + (layer * detectors_.size() + index) * kStateSize;
}

void SileroBatch::run() {
  // A detector gone since it was added (its call ended) leaves a slot computed for nothing.
  const auto first_it = std::find_if(detectors_.begin(), detectors_.end(),
                                     [](const SileroVad* d) { return d != nullptr; });
  if (first_it == detectors_.end()) return;
  const SileroVad& first = **first_it;
  const std::size_t n = detectors_.size();
  bool one_kind = windows_.size() == n * first.frame_samples();
  h_.assign(2 * n * kStateSize, 0);
  c_.assign(2 * n * kStateSize, 0);
  probabilities_.assign(n, 0);
  for (std::size_t b = 0; b < n; ++b) {
    const SileroVad* d = detectors_[b];
    if (d == nullptr) continue;
    one_kind = one_kind && &d->model_ == &first.model_ && d->sample_rate_ == first.sample_rate_;
    for (std::size_t layer = 0; layer < 2; ++layer) {  // [2, n, 64] from each one's [2, 1, 64]
      std::copy_n(d->h_.data() + layer * kStateSize, kStateSize,
                  h_.data() + (layer * n + b) * kStateSize);
      std::copy_n(d->c_.data() + layer * kStateSize, kStateSize,
                  c_.data() + (layer * n + b) * kStateSize);
    }
  }
  const Status ran = one_kind ? first.model_.run(windows_, n, first.sample_rate_, h_, c_,
                                                 probabilities_)
                              : make_error("silero vad: a batch of mixed models or rates");
  if (!ran) {
    spdlog::warn("vad: batch of {} windows not computed ({}): each runs alone", n,
                 ran.error().message);
    close();
    return;
  }
  for (std::size_t b = 0; b < n; ++b) {
    if (detectors_[b] != nullptr) detectors_[b]->ahead_.probability = probabilities_[b];
  }
  ran_ = true;
}

void SileroBatch::close() {
  for (SileroVad* d : detectors_) {
    if (d != nullptr) d->ahead_ = {};
  }
  detectors_.clear();
  windows_.clear();
  ran_ = false;
  if (open_batch == this) open_batch = nullptr;
}

SileroVad::~SileroVad() {
  if (ahead_.batch != nullptr) ahead_.batch->forget(ahead_.index);
}

void SileroVad::look_ahead(Samples frame) {
  if (SileroBatch* batch = SileroBatch::open_here();
      batch && frame.size() == frame_samples() &&
      (silent_windows_ < kSilentWindowsRun || !digital_silence(frame))) {
    batch->add(*this, frame);
  }
}

Result<bool> SileroVad::is_voiced(Samples frame) {
  const bool silent = frame.size() == frame_samples() && digital_silence(frame);
  silent_windows_ = silent ? silent_windows_ + 1 : 0;
  if (silent_windows_ > kSilentWindowsRun) {
    // The model's state has settled on what silence gives: it would not move any more.
    if (ahead_.batch != nullptr) ahead_.batch->forget(std::exchange(ahead_, {}).index);
    return hysteresis_.update(0.0);
  }
  auto p = probability(frame);
  if (!p) return p.error();
  return hysteresis_.update(*p);
}

}  // namespace chalkbot
