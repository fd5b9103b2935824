#pragma once
// How a socket transport hands its calls to whoever runs them (server/Gateway): a transport
// knows its protocol, the owner knows calls (store, agents, metrics, dashboard).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "transport/streamed_audio.h"

namespace chalkbot {

// What is said in a call as it goes, for a transport whose far end shows it (the browser phone).
struct StreamNews {
  enum class Kind {
    kCaller,  // the caller's turn as recognised
    kBot,     // a prompt, or the next sentence of an answer
    kTurn,    // an answer is over: all of its text, with its timings
  };
  struct Stage {
    std::string name;  // as the dashboard's waterfall names them: "asr", "llm_first_token", ...
    std::int64_t ms = 0;
  };
  Kind kind = Kind::kBot;
  std::string text;
  bool interrupted = false;       // kTurn: the caller barged in
  std::int64_t latency_ms = -1;   // kTurn: end of the caller's speech to the answer's first
                                  // audio out; -1 when not known
  std::vector<Stage> stages;      // kTurn
};

struct StreamCallStart {
  std::string call_id;    // the call's id in the store: the stream's own (AudioSocket's UUID)
  std::string from;       // who calls, as far as the transport knows
  std::string to;
  std::string transport;  // "audiosocket", "twilio", "browser"
  // Optional (the browser phone's): the call's transcript as it goes. Any thread; never blocks.
  std::function<void(StreamNews news)> show = {};
};

class StreamCallHandler {
 public:
  virtual ~StreamCallHandler() = default;
  // On the transport's thread, returns at once: a call begins; `audio` carries its sound. False
  // refuses it (the transport then closes the stream).
  virtual bool stream_started(const StreamCallStart& start,
                              std::shared_ptr<StreamedAudio> audio) = 0;
  // On the transport's thread: the far end is gone ("caller_hangup", "protocol_error",
  // "connection_lost", ...). Also after the call's own close(), when it no longer matters.
  virtual void stream_ended(const std::string& call_id, const std::string& reason) = 0;
};

}  // namespace chalkbot
