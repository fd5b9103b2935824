// flite synthesising on many threads at once, with its one shared voice and no lock: every
// result must be byte-identical to the same sentence synthesised alone.
//
// flite is deterministic except for its excitation noise, which it draws from libc rand(): a
// process-wide sequence that parallel syntheses would interleave. This test binary (built on its
// own for that reason) defines rand() itself, with a per-thread state that each synthesis resets,
// so the noise is the same alone and in parallel and any other difference is shared state leaking
// between utterances. DeterministicAlone checks that the replacement is in effect.
#include <gtest/gtest.h>

#include <cstddef>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "component/tts_test_util.h"
#include "core/settings.h"
#include "speech/tts/backends.h"

namespace {
thread_local unsigned rand_state = 1;
}  // namespace

// Replaces libc's for libflite (the executable's definition wins symbol lookup). Same LCG
// constants as the C standard's example implementation.
extern "C" int rand() {
  rand_state = rand_state * 1103515245U + 12345U;
  return static_cast<int>((rand_state / 65536U) % 32768U);
}

namespace chalkbot {
namespace {

const std::vector<std::string> kSentences = {
    "Hello, thank you for calling. How can I help you today?",
    "The capital of France is Paris.",
    "Your appointment is on Tuesday at three thirty in the afternoon.",
    "I am sorry, I did not catch that. Could you say it again?",
    "Your order number is 4 5 6 7 8, and it shipped yesterday.",
    "Please hold while I transfer you to a colleague.",
};

std::unique_ptr<Tts> make_flite() {
  TtsSettings settings;
  settings.provider = "flite";
  auto tts = make_flite_tts(settings);
  if (!tts) ADD_FAILURE() << tts.error().message;
  return tts ? std::move(*tts) : nullptr;
}

std::vector<Sample> synthesize_seeded(Tts& tts, const std::string& text) {
  rand_state = 1;
  auto result = testing::timed_synthesis(tts, text, 8000);
  EXPECT_TRUE(result.ok) << text;
  return result.samples;
}

TEST(FliteParallel, DeterministicAlone) {
  auto tts = make_flite();
  ASSERT_TRUE(tts);
  const auto first = synthesize_seeded(*tts, kSentences[0]);
  const auto second = synthesize_seeded(*tts, kSentences[0]);
  ASSERT_GT(first.size(), 8000U);  // over a second of speech
  EXPECT_TRUE(first == second) << "flite output varies with the same noise: the test's premise fails";
}

TEST(FliteParallel, ParallelSynthesisIsByteIdenticalToAlone) {
  auto tts = make_flite();
  ASSERT_TRUE(tts);
  std::vector<std::vector<Sample>> alone;
  for (const auto& sentence : kSentences) alone.push_back(synthesize_seeded(*tts, sentence));

  constexpr std::size_t kThreads = 8;
  constexpr std::size_t kRounds = 4;
  for (std::size_t round = 0; round < kRounds; ++round) {
    std::vector<std::vector<Sample>> got(kThreads);
    std::latch start(static_cast<std::ptrdiff_t>(kThreads));
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();  // all begin together, to overlap as much as possible
        got[t] = synthesize_seeded(*tts, kSentences[(t + round) % kSentences.size()]);
      });
    }
    for (auto& thread : threads) thread.join();
    for (std::size_t t = 0; t < kThreads; ++t) {
      const std::size_t sentence = (t + round) % kSentences.size();
      EXPECT_TRUE(got[t] == alone[sentence])
          << "round " << round << ", thread " << t << ": \"" << kSentences[sentence] << "\" got "
          << got[t].size() << " samples, alone " << alone[sentence].size();
    }
  }
}

}  // namespace
}  // namespace chalkbot
