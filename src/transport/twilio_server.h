#pragma once
// Twilio Media Streams (twilio_protocol.h): the voice webhook (POST /twilio/voice answers with
// <Connect><Stream>) and the bidirectional stream's WebSocket (/twilio/stream), both refused
// unless X-Twilio-Signature is right for the auth token. Each stream becomes a call through
// StreamCallHandler. One "twilio" thread does it all: HTTP, WebSocket reads and writes, and one
// 20 ms absolute-deadline tick that sends every call's next frame of bot speech (u-law, base64),
// a "clear" on barge-in and a "mark" at the end of each talk spurt. Plain HTTP/WS: Twilio only
// connects to https/wss, so a TLS proxy goes in front (README).
#include <functional>
#include <memory>
#include <string>

#include "core/result.h"
#include "transport/stream_calls.h"

namespace chalkbot {

struct TwilioEndpoints {
  // What Twilio is told to use, e.g. https://bot.example.com: the webhook is
  // <public_url>/twilio/voice and the stream wss://<host>/twilio/stream. Signatures are checked
  // against these URLs, as Twilio signs the ones it requested.
  std::string public_url;
  std::string auth_token;  // the account's; never logged
  // Open connections (webhook requests and streams) beyond which new ones are closed at once:
  // the port faces the internet through its proxy.
  int max_connections = 0;
};

class TwilioServer {
 public:
  // `handler` must outlive the server; `wake` as AudioSocketServer's.
  TwilioServer(TwilioEndpoints endpoints, StreamCallHandler& handler, std::function<void()> wake);
  ~TwilioServer();  // stops
  TwilioServer(const TwilioServer&) = delete;
  TwilioServer& operator=(const TwilioServer&) = delete;

  Status start(const std::string& host, int port, const std::string& key);
  int port() const;
  void stop_accepting();  // any thread
  void stop();

  // The stream URL put into the TwiML: public_url with ws(s):// and /twilio/stream.
  static std::string stream_url(const std::string& public_url);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chalkbot
