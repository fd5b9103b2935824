#include "agent/recognition.h"

#include <mutex>
#include <utility>
#include <vector>

namespace chalkbot {
namespace {

class PooledRecognition final : public Recognition {
 public:
  PooledRecognition(std::unique_ptr<AsrStream> stream, std::uint64_t utterance, Executor& compute,
                    RecognitionResults& results)
      : state_(std::make_shared<State>(std::move(stream), utterance, results)), queue_(compute) {}

  ~PooledRecognition() override {
    // Queued jobs see this and skip their work; a job delivering a result holds the mutex, so
    // once it is taken here none is delivered any more.
    std::lock_guard lock(state_->mutex);
    state_->dropped = true;
  }

  void accept(Samples audio) override {
    queue_.post([state = state_, audio = std::vector<Sample>(audio.begin(), audio.end())] {
      if (!state->is_dropped()) state->stream->accept(audio);
    });
  }
  void decode_ahead() override {
    queue_.post([state = state_] {
      if (!state->is_dropped()) state->stream->decode_ahead();
    });
  }
  void ask_words() override {
    queue_.post([state = state_] {
      if (state->is_dropped()) return;
      std::string words = state->stream->speculate();
      std::lock_guard lock(state->mutex);
      if (!state->dropped) state->results.words_heard(state->utterance, std::move(words));
    });
  }
  void keep_words() override {
    queue_.post([state = state_] {
      if (!state->is_dropped()) (void)state->stream->partial();
    });
  }
  void finish() override {
    queue_.post([state = state_] {
      if (state->is_dropped()) return;
      Result<std::string> words = std::string();
      if (Status finished = state->stream->finish(); finished) {
        words = state->stream->result();
      } else {
        words = finished.error();
      }
      std::lock_guard lock(state->mutex);
      if (!state->dropped) state->results.recognized(state->utterance, std::move(words));
    });
  }

 private:
  // Shared with the queued jobs, which may outlive the Recognition.
  struct State {
    State(std::unique_ptr<AsrStream> s, std::uint64_t u, RecognitionResults& r)
        : stream(std::move(s)), utterance(u), results(r) {}
    bool is_dropped() {
      std::lock_guard lock(mutex);
      return dropped;
    }
    std::unique_ptr<AsrStream> stream;  // used by one job at a time (the serial queue)
    const std::uint64_t utterance;
    RecognitionResults& results;
    std::mutex mutex;
    bool dropped = false;
  };
  std::shared_ptr<State> state_;
  SerialQueue queue_;
};

}  // namespace

Result<std::unique_ptr<Recognition>> PooledRecognizer::open(std::uint64_t utterance) {
  auto stream = asr_.open(sample_rate_);
  if (!stream) return stream.error();
  return std::unique_ptr<Recognition>(
      std::make_unique<PooledRecognition>(std::move(*stream), utterance, compute_, results_));
}

}  // namespace chalkbot
