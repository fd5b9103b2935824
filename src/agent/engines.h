#pragma once
// The four engines a voice conversation needs, opened from the configuration in one place.
#include <memory>

#include "core/result.h"
#include "core/settings.h"
#include "llm/chat_model.h"
#include "speech/asr/asr.h"
#include "speech/tts/tts.h"
#include "store/buffered_store.h"
#include "store/conversation_store.h"

namespace chalkbot {

struct Engines {
  std::unique_ptr<ChatModel> model;
  std::unique_ptr<Asr> asr;
  std::unique_ptr<Tts> tts;
  std::unique_ptr<ConversationStore> store;
};

// Opens every engine; the first failure is returned with the configuration key at fault. The store
// is a BufferedStore (calls go on while the backend cannot write) with `store_options`. `tools`:
// what the model is told it may call (the flow's: one flow per process).
Result<Engines> open_engines(const Settings& settings, BufferedStore::Options store_options = {},
                             std::vector<ToolSpec> tools = {});

}  // namespace chalkbot
