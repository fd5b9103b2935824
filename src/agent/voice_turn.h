#pragma once
// One offline voice turn, the call agent's loop without the phone: find the question in a
// recording (VAD + endpointer), recognise it, stream the model's answer sentence by sentence into
// TTS. What `chalkbot turn`, the component tests and the benchmark run.
#include <string>

#include "agent/conversation.h"
#include "core/audio.h"
#include "core/result.h"
#include "speech/asr/asr.h"
#include "speech/tts/tts.h"

namespace chalkbot {

struct VoiceTurnResult {
  std::string question;  // what the ASR heard (empty: no speech found, nothing asked)
  Answer answer;
  Audio answer_audio;  // at the requested rate
  StageTimes times;    // the turn's timeline (wall clock ms), as stored with the answer
};

// The recording is treated as telephone audio: analysed and recognised at 8 kHz. The stage
// stamps place the recording as if its speech had just been heard live, so the stored timings
// read like a call's (speech end -> endpoint includes the end-silence wait).
Result<VoiceTurnResult> run_voice_turn(const Audio& recording, Asr& asr, Tts& tts,
                                       Conversation& conversation, const Settings& settings,
                                       int answer_rate);

}  // namespace chalkbot
