#pragma once
// How a socket transport hands its calls to whoever runs them (server/Gateway): a transport
// knows its protocol, the owner knows calls (store, agents, metrics, dashboard).
#include <memory>
#include <string>

#include "transport/streamed_audio.h"

namespace chalkbot {

struct StreamCallStart {
  std::string call_id;    // the call's id in the store: the stream's own (AudioSocket's UUID)
  std::string from;       // who calls, as far as the transport knows
  std::string to;
  std::string transport;  // "audiosocket", "twilio"
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
