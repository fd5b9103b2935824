#pragma once
// One phone call's conversation: answer -> greeting -> listen -> think -> speak, repeated, with
// barge-in, reprompts, goodbyes, DTMF actions and limits. The decisions are the TurnMachine's;
// CallAgent wires it to the call: run() feeds it the media session's frames, digits and ticks on
// the call's thread, and the Speaker thread does all the talking. Every turn is stored with its
// stage timestamps.
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/call_flow.h"
#include "agent/conversation.h"
#include "agent/provider_failure.h"
#include "agent/speaker.h"
#include "agent/turn_machine.h"
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

// What the agent asks of the call's signalling; each is posted (must not block).
struct CallControl {
  std::function<void()> hang_up;                            // BYE
  std::function<void(const std::string& target)> transfer;  // blind transfer (REFER)
};

class CallAgent {
 public:
  CallAgent(const CallServices& services, CallInfo info, std::shared_ptr<MediaSession> media,
            CallControl control);

  // Runs the call to its end on the calling thread; returns the end reason.
  std::string run();

  // Any thread. The far end hung up (or the call died): run() ends without a farewell.
  void remote_ended(const std::string& reason);
  // Any thread. Graceful shutdown: finish the turn in progress (up to `grace`), say the farewell
  // and hang up.
  void drain();
  // Any thread: progress of the transfer asked for through CallControl::transfer (`detail`, such
  // as "603 Declined", is logged).
  void transfer_news(TransferNews news, const std::string& detail);

 private:
  using Event = std::function<void(TurnMachine& machine)>;
  // Hands an event from another thread to the call's thread (run() delivers it within a tick).
  void post(Event event);
  std::vector<Event> take_events();

  const CallServices& services_;
  CallInfo info_;
  std::shared_ptr<MediaSession> media_;
  CallControl control_;

  std::mutex events_mutex_;
  std::vector<Event> events_;
};

}  // namespace chalkbot
