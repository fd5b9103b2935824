#include "agent/engines.h"

namespace chalkbot {

Result<Engines> open_engines(const Settings& settings) {
  auto model = make_chat_model(settings.llm);
  if (!model) return model.error();
  auto asr = make_asr(settings.asr);
  if (!asr) return asr.error();
  auto tts = make_tts(settings.tts);
  if (!tts) return tts.error();
  auto store = make_store(settings.store);
  if (!store) return store.error();
  return Engines{std::move(*model), std::move(*asr), std::move(*tts), std::move(*store)};
}

}  // namespace chalkbot
