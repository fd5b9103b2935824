#pragma once
// Asterisk AudioSocket (audiosocket_protocol.h) over TCP: each connection that names itself with
// a UUID becomes a call through StreamCallHandler. One "audiosocket" thread does all of it:
// reading, writing, and one 20 ms absolute-deadline tick that sends every call's next frame of
// bot speech (real-time pacing without a thread per call). Never blocks a call's thread: the
// call reaches it only through its StreamedAudio rings.
#include <functional>
#include <memory>
#include <string>

#include "core/result.h"
#include "transport/stream_calls.h"

namespace chalkbot {

class AudioSocketServer {
 public:
  // `handler` must outlive the server. `wake` (cheap, any thread) is called at most once per
  // tick when caller audio, a digit or a hang-up arrived: the calls' cue to step.
  AudioSocketServer(StreamCallHandler& handler, std::function<void()> wake);
  ~AudioSocketServer();  // stops
  AudioSocketServer(const AudioSocketServer&) = delete;
  AudioSocketServer& operator=(const AudioSocketServer&) = delete;

  // Binds host:port (port 0 picks a free one) and starts the thread; returns once listening.
  // Errors name `key`, the setting the address came from.
  Status start(const std::string& host, int port, const std::string& key);
  int port() const;
  // Any thread: no new connections (graceful shutdown); calls in progress go on.
  void stop_accepting();
  // Closes every connection and joins the thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chalkbot
