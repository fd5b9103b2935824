#pragma once
// One phone call's conversation: answer -> greeting -> listen -> think -> speak, repeated, with
// barge-in, reprompts, goodbyes, DTMF actions and limits. Runs on its own thread (run()); the
// Speaker thread does all the talking. Every turn is stored with its stage timestamps.
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "agent/call_flow.h"
#include "agent/conversation.h"
#include "agent/provider_failure.h"
#include "agent/speaker.h"
#include "core/settings.h"
#include "media/media_engine.h"
#include "speech/asr/asr.h"
#include "speech/tts/tts.h"
#include "store/conversation_store.h"

namespace chalkbot {

// Engines and rules shared by every call (all thread-safe).
struct CallServices {
  Asr& asr;
  Tts& tts;
  ChatModel& model;
  ConversationStore& store;
  const Settings& settings;
  const CallFlow& flow;
  const PromptCache& prompts;
  // Every provider failure in a call is reported here (after it is logged): metrics hook in.
  ProviderFailureSink on_provider_failure = {};
};

struct CallInfo {
  std::string id;  // the store's call id
  std::string from;
  std::string to;
};

class CallAgent {
 public:
  // `hang_up` sends BYE (posted to the SIP thread; must not block).
  CallAgent(const CallServices& services, CallInfo info, std::shared_ptr<MediaSession> media,
            std::function<void()> hang_up);

  // Runs the call to its end on the calling thread; returns the end reason.
  std::string run();

  // Any thread. The far end hung up (or the call died): run() ends without a farewell.
  void remote_ended(const std::string& reason);
  // Any thread. Graceful shutdown: finish the turn in progress (up to `grace`), say the farewell
  // and hang up.
  void drain();

 private:
  const CallServices& services_;
  CallInfo info_;
  std::shared_ptr<MediaSession> media_;
  std::function<void()> hang_up_;

  std::atomic<bool> remote_ended_{false};
  std::atomic<bool> draining_{false};
  std::mutex reason_mutex_;
  std::string remote_reason_;
};

}  // namespace chalkbot
