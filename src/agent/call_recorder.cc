#include "agent/call_recorder.h"

#include <sndfile.h>

#include <filesystem>

namespace chalkbot {

struct CallRecorder::File {
  SNDFILE* handle = nullptr;
  ~File() {
    if (handle != nullptr) sf_close(handle);
  }
};

Result<std::unique_ptr<CallRecorder>> CallRecorder::open(const std::string& path,
                                                         int sample_rate) {
  std::error_code error;
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, error);
  if (error) return make_error("recording: cannot create " + dir.string() + ": " + error.message());
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 2;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  auto file = std::make_unique<File>();
  file->handle = sf_open(path.c_str(), SFM_WRITE, &info);
  if (file->handle == nullptr) {
    return make_error("recording: cannot write " + path + ": " + sf_strerror(nullptr));
  }
  return std::unique_ptr<CallRecorder>(new CallRecorder(std::move(file), sample_rate));
}

CallRecorder::CallRecorder(std::unique_ptr<File> file, int sample_rate)
    : file_(std::move(file)),
      write_block_frames_(static_cast<std::size_t>(sample_rate)),
      max_queued_bot_(30 * static_cast<std::size_t>(sample_rate)) {}

CallRecorder::~CallRecorder() { flush(); }

void CallRecorder::queued(Samples bot_audio) {
  std::lock_guard lock(mutex_);
  if (bot_.size() + bot_audio.size() > max_queued_bot_) return;
  bot_.insert(bot_.end(), bot_audio.begin(), bot_audio.end());
}

void CallRecorder::cleared() {
  std::lock_guard lock(mutex_);
  bot_.clear();
}

void CallRecorder::heard(Samples caller_audio) {
  {
    std::lock_guard lock(mutex_);
    for (Sample caller : caller_audio) {
      Sample bot = 0;
      if (!bot_.empty()) {
        bot = bot_.front();
        bot_.pop_front();
      }
      pending_.push_back(caller);
      pending_.push_back(bot);
    }
  }
  if (pending_.size() >= 2 * write_block_frames_) flush();
}

void CallRecorder::flush() {
  if (pending_.empty()) return;
  sf_writef_short(file_->handle, pending_.data(), static_cast<sf_count_t>(pending_.size() / 2));
  pending_.clear();
}

}  // namespace chalkbot
