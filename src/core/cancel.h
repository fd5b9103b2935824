#pragma once
// One cancel token per turn: barge-in or hang-up sets it, and the LLM stream, TTS and queued
// audio all check it. Copies share the same flag; checking it is a relaxed atomic load.
#include <atomic>
#include <memory>

namespace chalkbot {

class CancelToken {
 public:
  CancelToken() : flag_(std::make_shared<std::atomic<bool>>(false)) {}

  void cancel() const { flag_->store(true, std::memory_order_relaxed); }
  bool cancelled() const { return flag_->load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace chalkbot
