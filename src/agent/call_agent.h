#pragma once
// One phone call's conversation: answer -> greeting -> listen -> think -> speak, repeated, with
// barge-in, reprompts, goodbyes, DTMF actions and limits. The decisions are the TurnMachine's;
// CallAgent wires it to the call: each step() (on a CallPool thread) feeds it what came since the
// last step (the media session's frames and digits, the recogniser's results, the far end's
// news, the model's sentences) and returns at once; the recogniser decodes and the voice
// synthesizes on the compute pool. Every turn is stored with its stage timestamps.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/call_flow.h"
#include "agent/caller_memory.h"
#include "agent/call_pool.h"
#include "agent/conversation.h"
#include "agent/provider_failure.h"
#include "agent/recognition.h"
#include "agent/voice.h"
#include "agent/turn_machine.h"
#include "core/settings.h"
#include "core/work_pool.h"
#include "media/call_audio.h"
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
  Executor& compute;  // where ASR decodes run
  // Every provider failure in a call is reported here (after it is logged): metrics hook in.
  ProviderFailureSink on_provider_failure = {};
  // Memory across calls (null or disabled: calls neither remember nor are remembered).
  CallerMemory* memory = nullptr;
};

struct CallInfo {
  std::string id;  // the store's call id
  std::string from;
  std::string to;
};

// What is said in a call as it goes, for a carrier that shows it (the browser phone).
struct CallNews {
  enum class Kind {
    kCallerSaid,  // the caller's turn as recognised (`times`: its speech stamps)
    kBotSays,     // a prompt, or the next sentence of an answer, as it goes to the voice
    kAnswered,    // an answer is over (`text`: all of it; `times`: its whole timeline)
  };
  Kind kind = Kind::kBotSays;
  std::string text;
  bool interrupted = false;  // kAnswered: the caller barged in before all of it was said
  StageTimes times;
};

// What the agent asks of the call's signalling; each is posted (must not block).
struct CallControl {
  std::function<void()> hang_up;                            // BYE
  std::function<void(const std::string& target)> transfer;  // blind transfer (REFER)
  // Optional: the call's transcript as it goes, on the call's thread.
  std::function<void(CallNews news)> news = {};
};

class CallAgent final : public SteppedCall, public RecognitionResults {
 public:
  // `media` carries the call's sound (RTP, or a socket transport's adapter). `wake` asks for a
  // step soon (CallPool::wake): called when something is posted to the call.
  CallAgent(const CallServices& services, CallInfo info, std::shared_ptr<CallAudio> media,
            CallControl control, std::function<void()> wake);
  ~CallAgent() override;

  // One step of the call on its pool thread: the first begins it (stored, greeting); then what
  // came since the last step is handed to the turn machine. Returns false once the call is over
  // (its end stored, the media closed): end_reason() says why.
  bool step() override;
  void look_ahead() override;
  const std::string& end_reason() const { return end_reason_; }
  // The caller's identity for memory across calls ('' when memory is off or the caller unknown).
  const std::string& caller() const { return caller_; }

  // Any thread. The far end hung up (or the call died): the call ends without a farewell.
  void remote_ended(const std::string& reason);
  // Any thread. Graceful shutdown: finish the turn in progress, say the farewell and hang up.
  void drain();
  // Any thread: progress of the transfer asked for through CallControl::transfer (`detail`, such
  // as "603 Declined", is logged).
  void transfer_news(TransferNews news, const std::string& detail);

  // RecognitionResults: from the compute pool, posted to the call.
  void words_heard(std::uint64_t utterance, std::string words) override;
  void recognized(std::uint64_t utterance, Result<std::string> words) override;

 private:
  struct Live;  // what exists while the call runs (conversation, voice, recogniser, machine)
  enum class State { kNew, kRunning, kStopping, kOver };
  using Event = std::function<void()>;  // runs on the call's thread while the call runs

  bool begin();  // the first step
  void hear_what_came(TurnMachine& machine);
  void stop();   // the machine is done: hang up if it wants, stop talking
  bool wind_down();  // once quiet: store the end, close the media; false when over
  // Hands an event from another thread to the call (delivered at its next step, asked for now).
  void post(Event event);
  std::vector<Event> take_events();

  const CallServices& services_;
  CallInfo info_;
  std::string caller_;  // caller_identity(info_.from) while memory across calls is on
  std::shared_ptr<CallAudio> media_;
  CallControl control_;
  std::function<void()> wake_;

  static constexpr std::size_t kAllFrames = SIZE_MAX;
  std::size_t frames_to_hear_ = kAllFrames;  // at the next step: what look_ahead() saw waiting
  State state_ = State::kNew;
  std::string end_reason_;
  SteadyClock::time_point last_frame_at_;
  std::unique_ptr<Live> live_;

  std::mutex events_mutex_;
  std::vector<Event> events_;
};

}  // namespace chalkbot
