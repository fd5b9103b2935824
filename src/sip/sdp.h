#pragma once
// Our own small SDP offer/answer for one audio stream (RFC 3264 subset). sofia's soa is disabled:
// we want exact control over the payload types (G.711 + telephone-event), hold direction and the
// advertised address, and soa hides those behind its own session state. Pure functions, any thread.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace chalkbot::sip {

enum class Direction { kSendRecv, kSendOnly, kRecvOnly, kInactive };
const char* to_string(Direction direction);
// What we answer to the remote's direction: sendonly -> recvonly, recvonly -> sendonly.
Direction mirror(Direction direction);

struct Codec {
  std::string name;  // "PCMU", "PCMA", "G722", "OPUS" (encoding name as in a=rtpmap, upper case)
  int payload_type = -1;
  // The RTP clock SDP names: 8000 for G722 too (RFC 3551 kept an error: it samples at 16 kHz),
  // 48000 for opus whatever it codes (RFC 7587).
  int clock_rate = 8000;
  int channels = 1;  // a=rtpmap's encoding parameter: opus is always written /2 (RFC 7587)
  bool operator==(const Codec&) const = default;
};

// An RFC 4733 telephone-event payload type and the RTP clock it counts in.
struct TelephoneEvent {
  int payload_type = -1;  // -1: none
  int clock_rate = 8000;
  bool operator==(const TelephoneEvent&) const = default;
};

// Codecs we can run, by name: PCMU (pt 0), PCMA (pt 8), G722 (pt 9), opus (pt 111 in our
// offers; an offer's own dynamic type in answers).
Result<Codec> known_codec(std::string_view name);
// "opus,G722,PCMU" -> [OPUS/111, G722/9, PCMU/0] (any case); unknown names are an error.
Result<std::vector<Codec>> parse_codec_list(std::string_view list);

// The remote side's audio as described by its offer or answer.
struct RemoteMedia {
  std::string ip;    // c= address (session or media level); "0.0.0.0" means hold (RFC 2543)
  int port = 0;      // m=audio port; 0 means the stream was rejected
  std::string profile = "RTP/AVP";  // m=audio transport protocol
  std::vector<Codec> codecs;  // offered audio codecs in the remote's order (telephone-event excluded)
  std::vector<TelephoneEvent> telephone_events;  // offered telephone-event types, in order
  Direction direction = Direction::kSendRecv;
  std::vector<std::string> crypto;  // a=crypto values (RFC 4568) of the stream, as written

  // Held: sendonly/inactive, or the old-style c=0.0.0.0.
  bool on_hold() const;
  // The telephone-event type to run beside `codec`: the one on the codec's RTP clock (an event's
  // timestamp and duration count in the stream's clock: 48000 for opus), else the /8000 one that
  // many phones offer whatever their codec; payload_type -1 when neither was offered.
  TelephoneEvent telephone_event_for(const Codec& codec) const;
};

// Parses the first m=audio section of an SDP body. Errors on a missing c=/m=audio or bad numbers.
Result<RemoteMedia> parse_sdp(std::string_view sdp);

// First codec of `preferences` the remote offered (matching by name, static pts by number), with
// the remote's payload type. Error if there is none in common (the caller answers 488).
Result<Codec> choose_codec(const RemoteMedia& remote, const std::vector<Codec>& preferences);

// Why `remote`'s audio stream is one we cannot run, as an RFC 3261 warn-code and text: 304 the
// stream is refused (port 0), 302 its profile is not plain RTP/AVP (SRTP's RTP/SAVP passes when
// `srtp_ok`; its keys are answer_srtp's business, sdes.h). warn_code 0: usable (the codec is
// choose_codec's business).
struct MediaProblem {
  int warn_code = 0;
  std::string text;
};
MediaProblem unusable_audio(const RemoteMedia& remote, bool srtp_ok = false);

// Our side of a session description.
struct LocalSdp {
  std::string address;  // o= and c= (sip.public_address or the bind address, never guessed)
  int port = 0;         // RTP port
  std::vector<Codec> codecs;  // answer: exactly one; offer: preference order
  int telephone_event_pt = -1;  // -1: do not offer/accept DTMF events
  int telephone_event_rate = 8000;  // its RTP clock (a=rtpmap telephone-event/<rate>)
  Direction direction = Direction::kSendRecv;
  std::uint64_t session_id = 0;
  std::uint64_t version = 0;  // bump on every changed description in the same session
  std::string profile = "RTP/AVP";  // RTP/SAVP for SRTP (or RTP/AVP when the offer used it)
  std::string crypto;  // the a=crypto value (sdes.h format_crypto) when SRTP is on, else ''
};

// Builds the SDP text (CRLF line ends). IPv6 addresses get "IN IP6". opus is written
// "opus/48000/2" with an a=fmtp asking for in-band FEC and saying we code 16 kHz.
std::string build_sdp(const LocalSdp& local, std::string_view user_agent = "Chalkbot");

}  // namespace chalkbot::sip
