#pragma once
// A caller's audio run again through today's call pipeline (VAD, end of turn, ASR, the model,
// TTS) on a virtual clock, faster than real time: the same TurnMachine a live call uses, with
// every ASR job run to completion before the next frame (no result races the clock) and the
// bot's speech taking virtual time equal to its audio length. The model and TTS take no virtual
// time (their real latencies are measured and reported beside), so the turn decisions depend
// only on the audio and the settings: the same input gives the same turns.
//
// Nothing is written to a production store: the replayed conversation lives in memory.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/call_flow.h"
#include "core/audio.h"
#include "core/result.h"
#include "core/settings.h"
#include "llm/chat_model.h"
#include "speech/asr/asr.h"
#include "speech/tts/tts.h"

namespace chalkbot {

// One caller turn as the replay took it. Positions are ms into the caller's audio (virtual).
struct ReplayTurn {
  std::string heard;   // the caller's words (a continued turn: all of it, as the model got it)
  std::string answer;  // what the bot answered ('' when the turn got no answer: a goodbye, ...)
  bool answered = false;
  bool interrupted = false;  // the caller barged in or went on before the answer was all said
  std::int64_t speech_start_ms = 0;
  std::int64_t speech_end_ms = 0;
  std::int64_t endpoint_ms = 0;      // where the machine decided the turn had ended
  std::int64_t answer_audio_ms = 0;  // how long the bot's answer speaks (virtual time)
  // Real compute, measured (not part of the decisions, so they vary from run to run):
  double asr_ms = 0;                           // the turn's decodes (at its pauses and its end)
  std::optional<double> model_first_token_ms;  // from the request to the model's first token
  std::optional<double> tts_first_audio_ms;    // synthesis of the answer's first sentence

  std::int64_t end_of_turn_wait_ms() const { return endpoint_ms - speech_end_ms; }
};

struct ReplayResult {
  std::vector<ReplayTurn> turns;
  std::string end_reason;     // '' when the audio ran out with the call still going
  std::int64_t audio_ms = 0;  // the caller's audio replayed (virtual time, tail included)
  double wall_ms = 0;         // what the replay took in real time
  int provider_failures = 0;  // ASR / model / TTS failures (each also logged)
};

struct ReplayOptions {
  bool greeting = true;  // the bot greets first, as in a call (a recording's timeline has it)
  // Silence heard after the audio so that its last turn can end and be answered.
  std::int64_t tail_ms = 3000;
};

// Engines shared with the caller of replay_audio(); they must outlive the call. Thread-safe as
// in a live call (the model streams on the HTTP engine's thread).
struct ReplayEngines {
  Asr& asr;
  Tts& tts;
  ChatModel& model;
  const Settings& settings;
  const CallFlow& flow;
};

// Replays `caller_8k` (8 kHz mono: the caller's side only). Errors: the audio is not 8 kHz, or the
// VAD could not be made.
Result<ReplayResult> replay_audio(const ReplayEngines& engines, const Audio& caller_8k,
                                  const ReplayOptions& options = {});

}  // namespace chalkbot
