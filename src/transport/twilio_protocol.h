#pragma once
// Twilio Media Streams, the parts that are plain text (pure functions; the server and the tests
// share them). As Twilio documents them: the voice webhook is a form POST signed with
// X-Twilio-Signature = base64(HMAC-SHA1(auth token, the URL Twilio requested + each POST
// parameter's name and value, sorted by name)) (docs: usage/security, "Validating requests");
// the WebSocket handshake is signed the same way over its URL alone. <Connect><Stream url=...>
// opens a bidirectional stream (docs: voice/twiml/stream); its messages are JSON text frames
// (docs: voice/media-streams/websocket-messages): from Twilio "connected", "start" (streamSid,
// callSid, customParameters, mediaFormat audio/x-mulaw 8000 Hz mono), "media" (base64 u-law),
// "dtmf", "mark" (a mark of ours has played), "stop"; to Twilio "media", "mark" and "clear".
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chalkbot::twilio {

using FormFields = std::vector<std::pair<std::string, std::string>>;

// application/x-www-form-urlencoded; nullopt on a bad %-escape.
std::optional<FormFields> parse_form(std::string_view body);
std::string base64_encode(std::string_view bytes);
// nullopt when `text` is not base64 (padding optional only at the very end).
std::optional<std::string> base64_decode(std::string_view text);

// The X-Twilio-Signature Twilio sends for `url` with these POST fields (none for a GET).
std::string signature(const std::string& auth_token, const std::string& url,
                      const FormFields& post_fields);
// Constant-time comparison of a received signature with the expected one.
bool signature_matches(const std::string& expected, const std::string& received);

// The TwiML answering a call: a bidirectional stream to `stream_url`, passing the caller's and
// the called number on as custom parameters ("from", "to").
std::string connect_stream_twiml(const std::string& stream_url, const std::string& from,
                                 const std::string& to);

}  // namespace chalkbot::twilio
