#include "agent/engines.h"

#include "speech/vad/voice_detector.h"
#include "store/buffered_store.h"

namespace chalkbot {

Result<Engines> open_engines(const Settings& settings, BufferedStore::Options store_options,
                             std::vector<ToolSpec> tools) {
  auto model = make_chat_model(settings.llm, std::move(tools));
  if (!model) return model.error();
  auto asr = make_asr(settings.asr);
  if (!asr) return asr.error();
  // Each call makes its own detector; one made now loads a model-based VAD's shared model, so a
  // missing or broken model file stops start-up instead of every call.
  if (auto vad = make_voice_detector(settings.vad, kTelephoneRate); !vad) return vad.error();
  auto tts = make_tts(settings.tts);
  if (!tts) return tts.error();
  auto store = make_store(settings.store);
  if (!store) return store.error();
  // Calls go on while the store cannot write: writes queue in memory and are retried.
  return Engines{std::move(*model), std::move(*asr), std::move(*tts),
                 std::make_unique<BufferedStore>(std::move(*store), std::move(store_options))};
}

}  // namespace chalkbot
