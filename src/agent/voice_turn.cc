#include "agent/voice_turn.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/settings.h"
#include "media/resampler.h"
#include "speech/vad/endpointer.h"

namespace chalkbot {

Result<VoiceTurnResult> run_voice_turn(const Audio& recording, Asr& asr, Tts& tts,
                                       Conversation& conversation, const Settings& settings,
                                       int answer_rate) {
  auto phone_audio = resample(recording, kTelephoneRate);
  if (!phone_audio) return phone_audio.error();
  auto utterance = detect_first_utterance(*phone_audio, settings.vad);
  if (!utterance) return utterance.error();

  VoiceTurnResult result;
  result.answer_audio.sample_rate = answer_rate;
  StageTimes& times = result.times;
  times.endpoint = wall_ms();
  const UtteranceTimes& at = utterance->times;
  times.speech_end = *times.endpoint - (at.end_ms - at.voice_end_ms);
  times.speech_start = *times.speech_end - (at.voice_end_ms - at.onset_ms);
  if (utterance->audio.empty()) return result;  // no input: nothing to answer

  auto question = transcribe(asr, utterance->audio);
  if (!question) return question.error();
  times.asr_done = wall_ms();
  result.question = *question;
  if (result.question.empty()) return result;

  const CancelToken cancel;
  AnswerCallbacks speak;
  speak.on_sentence = [&](const std::string& sentence) {
    const auto sink = [&](Samples chunk) {
      if (!times.tts_first_audio) times.tts_first_audio = wall_ms();
      auto& out = result.answer_audio.samples;
      out.insert(out.end(), chunk.begin(), chunk.end());
      return true;
    };
    // A sentence TTS cannot speak is skipped; the rest of the answer still plays.
    if (auto spoken = tts.synthesize(sentence, answer_rate, sink, cancel); !spoken) {
      spdlog::warn("tts failed on a sentence: {}", spoken.error().message);
    }
    return true;
  };
  auto answer = conversation.answer(result.question, times, speak, cancel);
  if (!answer) return answer.error();
  result.answer = std::move(*answer);
  return result;
}

}  // namespace chalkbot
