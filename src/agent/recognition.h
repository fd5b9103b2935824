#pragma once
// The recogniser as a call's turn machine sees it: requests return at once and the slow part (a
// Moonshine decode, pocketsphinx's search, a remote transcription) runs off the call's thread.
// Results come back later as events, tagged with the utterance they belong to, so a call never
// waits for a decode and a decode for an utterance given up is dropped.
#include <cstdint>
#include <memory>
#include <string>

#include "core/audio.h"
#include "core/result.h"
#include "core/work_pool.h"
#include "speech/asr/asr.h"

namespace chalkbot {

// Where results go. Called on a compute thread; must not block (post to the call and return).
class RecognitionResults {
 public:
  virtual ~RecognitionResults() = default;
  // The words up to a pause, asked for with Recognition::ask_words().
  virtual void words_heard(std::uint64_t utterance, std::string words) = 0;
  // The final words of an utterance after Recognition::finish(), or why there are none.
  virtual void recognized(std::uint64_t utterance, Result<std::string> words) = 0;
};

// One utterance being recognised. Requests are carried out in order. Destroying it drops what
// is still queued, and no result of it is delivered after the destructor returned.
class Recognition {
 public:
  virtual ~Recognition() = default;
  virtual void accept(Samples audio) = 0;  // the call's rate, any chunk size
  // The caller speaks on: decode what can be now, so that less is left at the pause.
  virtual void decode_ahead() = 0;
  // The caller paused: the words so far -> RecognitionResults::words_heard. The engine keeps
  // them aside: a finish() with nothing but silence after them costs no second decode.
  virtual void ask_words() = 0;
  // The pause was long enough to look at its words (they did not end the turn): they stay as
  // decoded, and what the caller says next is decoded on its own.
  virtual void keep_words() = 0;
  // The utterance is over -> RecognitionResults::recognized. Nothing may be asked after it.
  virtual void finish() = 0;
};

class Recognizer {
 public:
  virtual ~Recognizer() = default;
  // A stream for the utterance numbered `utterance` (the number its results carry); fails when
  // the engine has no room for another stream.
  virtual Result<std::unique_ptr<Recognition>> open(std::uint64_t utterance) = 0;
};

// The live recogniser: an Asr engine's streams driven on `compute`, one serial queue per stream.
class PooledRecognizer final : public Recognizer {
 public:
  // sample_rate: the call's, what its streams are opened at.
  PooledRecognizer(Asr& asr, Executor& compute, RecognitionResults& results,
                   int sample_rate = kTelephoneRate)
      : asr_(asr), compute_(compute), results_(results), sample_rate_(sample_rate) {}
  Result<std::unique_ptr<Recognition>> open(std::uint64_t utterance) override;

 private:
  Asr& asr_;
  Executor& compute_;
  RecognitionResults& results_;
  int sample_rate_;
};

}  // namespace chalkbot
