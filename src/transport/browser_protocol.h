#pragma once
// The browser phone's messages (the dashboard's Talk page, web/talk.js), as pure functions the
// server and the tests share. One WebSocket, GET /api/talk on the admin server:
//
// page -> server
//   text   {"type":"start","rate":16000}  first, once: the call begins; `rate` (8000..48000 Hz)
//                                          is the rate of the audio that follows
//   binary the caller's audio: 16-bit signed little-endian mono PCM at that rate, whole samples,
//          at most kMaxAudioBytes a message (the page sends 20 ms at a time)
//   text   {"type":"dtmf","digit":"5"}     a key (0-9 * # A-D)
//   text   {"type":"hangup"}               the caller hangs up (closing the socket does too)
// server -> page
//   text   {"type":"started","call_id":"...","rate":16000}  the call began; the bot's audio comes
//                                          at `rate`
//   binary the bot's audio: 16-bit little-endian mono PCM at that rate, 20 ms a message, paced
//          in real time
//   text   {"type":"clear"}                barge-in: drop every sample of the bot not played yet
//   text   {"type":"caller","text":"..."}  the caller's turn as recognised
//   text   {"type":"bot","text":"..."}     a prompt, or the next sentence of an answer
//   text   {"type":"turn","text":"...","interrupted":false,"latency_ms":820,
//           "stages":[{"name":"asr","ms":120},...]}  an answer is over, with its timings
//   text   {"type":"ended","reason":"...","error":"..."}  last, before the close frame; `error`
//          only when the page sent something malformed (then close code 1008)
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/audio.h"
#include "core/result.h"
#include "transport/stream_calls.h"

namespace chalkbot::browser {

// The bot's audio goes out at 16 kHz; the page's AudioContext resamples it to its own rate.
inline constexpr int kDownRate = 16000;
inline constexpr int kMinUpRate = 8000;
inline constexpr int kMaxUpRate = 48000;
// 250 ms at 16 kHz: a page sends 20 ms at a time, so a bigger message is not the Talk page.
inline constexpr std::size_t kMaxAudioBytes = 8000;
// What the socket reads at most in one message (any kind); beyond it the connection fails with
// close code 1009 before the message is even read.
inline constexpr std::size_t kMaxMessageBytes = 64 * 1024;

struct Control {
  enum class Kind { kStart, kDtmf, kHangUp };
  Kind kind = Kind::kStart;
  int rate = 0;     // kStart
  char digit = 0;   // kDtmf
};

// A text message from the page; the error says what is wrong with it.
Result<Control> parse_control(std::string_view text);
// A binary message from the page as samples (appended to `out`); the error says what is wrong.
Status decode_audio(std::string_view bytes, std::vector<Sample>& out);
// Samples as a binary message.
std::string encode_audio(Samples pcm);

std::string started_json(const std::string& call_id, int rate);
std::string clear_json();
// The call's transcript as it goes; empty for news the page does not show.
std::string news_json(const StreamNews& news);
std::string ended_json(const std::string& reason, const std::string& error);

}  // namespace chalkbot::browser
