#include "sip/sdp.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <sstream>

namespace chalkbot::sip {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Named apart from access.cc's trim: the unity build compiles the sip layer as one unit.
std::string_view trim_field(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const auto at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  for (auto w : split(s, ' ')) {
    if (!trim_field(w).empty()) out.push_back(trim_field(w));
  }
  return out;
}

bool to_int(std::string_view s, int& out) {
  const auto* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && ptr == end;
}

// "c=IN IP4 1.2.3.4" -> "1.2.3.4" (a multicast "/ttl" suffix is dropped).
bool connection_address(std::string_view value, std::string& out) {
  const auto w = words(value);
  if (w.size() < 3 || w[0] != "IN" || (w[1] != "IP4" && w[1] != "IP6")) return false;
  out = std::string(w[2].substr(0, w[2].find('/')));
  // An IP literal of the stated family: we do not resolve names on the SIP thread.
  unsigned char bytes[16];
  return inet_pton(w[1] == "IP4" ? AF_INET : AF_INET6, out.c_str(), bytes) == 1;
}

// The dynamic payload type our offers give opus (the one most phones use too).
constexpr int kOpusOfferPayloadType = 111;

bool parse_direction(std::string_view attribute, Direction& out) {
  if (attribute == "sendrecv") out = Direction::kSendRecv;
  else if (attribute == "sendonly") out = Direction::kSendOnly;
  else if (attribute == "recvonly") out = Direction::kRecvOnly;
  else if (attribute == "inactive") out = Direction::kInactive;
  else return false;
  return true;
}

}  // namespace

const char* to_string(Direction direction) {
  switch (direction) {
    case Direction::kSendRecv: return "sendrecv";
    case Direction::kSendOnly: return "sendonly";
    case Direction::kRecvOnly: return "recvonly";
    case Direction::kInactive: return "inactive";
  }
  return "sendrecv";
}

Direction mirror(Direction direction) {
  switch (direction) {
    case Direction::kSendOnly: return Direction::kRecvOnly;
    case Direction::kRecvOnly: return Direction::kSendOnly;
    default: return direction;
  }
}

Result<Codec> known_codec(std::string_view name) {
  const std::string n = upper(trim_field(name));
  if (n == "PCMU") return Codec{"PCMU", 0, 8000};
  if (n == "PCMA") return Codec{"PCMA", 8, 8000};
  if (n == "G722") return Codec{"G722", 9, 8000};
  if (n == "OPUS") return Codec{"OPUS", kOpusOfferPayloadType, 48000, 2};
  return make_error("unsupported codec '" + std::string(name) + "' (opus, G722, PCMU, PCMA)");
}

Result<std::vector<Codec>> parse_codec_list(std::string_view list) {
  std::vector<Codec> out;
  for (auto item : split(list, ',')) {
    if (trim_field(item).empty()) continue;
    auto codec = known_codec(item);
    if (!codec) return codec.error();
    out.push_back(*codec);
  }
  if (out.empty()) return make_error("no codecs configured");
  return out;
}

bool RemoteMedia::on_hold() const {
  return direction == Direction::kSendOnly || direction == Direction::kInactive ||
         ip == "0.0.0.0";
}

TelephoneEvent RemoteMedia::telephone_event_for(const Codec& codec) const {
  TelephoneEvent fallback;
  for (const auto& event : telephone_events) {
    if (event.clock_rate == codec.clock_rate) return event;
    if (event.clock_rate == 8000 && fallback.payload_type < 0) fallback = event;
  }
  return fallback;
}

Result<RemoteMedia> parse_sdp(std::string_view sdp) {
  RemoteMedia media;
  std::string session_address;
  std::string media_address;
  Direction session_direction = Direction::kSendRecv;
  bool media_direction_set = false;
  bool in_audio = false;
  bool seen_audio = false;
  std::vector<int> pts;
  struct RtpMap {
    int pt;
    std::string name;
    int rate;
    int channels;
  };
  std::vector<RtpMap> rtpmaps;

  for (auto raw : split(sdp, '\n')) {
    const auto line = trim_field(raw);
    if (line.size() < 2 || line[1] != '=') continue;
    const char type = line[0];
    const auto value = line.substr(2);
    if (type == 'm') {
      if (seen_audio) {
        in_audio = false;  // only the first audio stream is ours
        continue;
      }
      const auto w = words(value);
      if (w.size() < 3 || w[0] != "audio") {
        in_audio = false;
        continue;
      }
      in_audio = seen_audio = true;
      media.profile = std::string(w[2]);
      if (!to_int(w[1].substr(0, w[1].find('/')), media.port) || media.port < 0 ||
          media.port > 65535) {
        return make_error("bad m=audio port");
      }
      for (size_t i = 3; i < w.size(); ++i) {
        int pt = 0;
        if (!to_int(w[i], pt) || pt < 0 || pt > 127) return make_error("bad payload type");
        pts.push_back(pt);
      }
    } else if (type == 'c') {
      if (seen_audio && !in_audio) continue;  // c= of a stream we do not use
      std::string address;
      if (!connection_address(value, address)) return make_error("bad c= line");
      if (!seen_audio) session_address = address;
      else if (in_audio) media_address = address;  // ignore c= of later streams
    } else if (type == 'a') {
      if (seen_audio && !in_audio) continue;
      Direction d;
      if (parse_direction(value, d)) {
        if (in_audio) {
          media.direction = d;
          media_direction_set = true;
        } else {
          session_direction = d;
        }
      } else if (in_audio && value.substr(0, 7) == "rtpmap:") {
        const auto rest = value.substr(7);
        const auto space = rest.find(' ');
        if (space == std::string_view::npos) continue;
        int pt = 0;
        if (!to_int(rest.substr(0, space), pt)) continue;
        const auto enc = split(trim_field(rest.substr(space + 1)), '/');
        int rate = 8000;
        if (enc.size() >= 2 && !to_int(enc[1], rate)) continue;
        int channels = 1;
        if (enc.size() >= 3 && (!to_int(enc[2], channels) || channels < 1)) continue;
        rtpmaps.push_back({pt, upper(enc[0]), rate, channels});
      } else if (in_audio && value.substr(0, 7) == "crypto:") {
        media.crypto.emplace_back(trim_field(value.substr(7)));
      }
    }
  }
  if (!seen_audio) return make_error("no m=audio");
  media.ip = !media_address.empty() ? media_address : session_address;
  if (media.ip.empty()) return make_error("no c= address for audio");
  if (!media_direction_set) media.direction = session_direction;

  for (int pt : pts) {
    auto map = std::find_if(rtpmaps.begin(), rtpmaps.end(), [pt](const auto& m) {
      return m.pt == pt;
    });
    if (map != rtpmaps.end()) {
      if (map->name == "TELEPHONE-EVENT") {
        media.telephone_events.push_back({pt, map->rate});
        continue;
      }
      media.codecs.push_back({map->name, pt, map->rate, map->channels});
    } else if (pt == 0) {
      media.codecs.push_back({"PCMU", 0, 8000});  // static types may omit a=rtpmap
    } else if (pt == 8) {
      media.codecs.push_back({"PCMA", 8, 8000});
    } else if (pt == 9) {
      media.codecs.push_back({"G722", 9, 8000});
    } else if (pt < 96) {
      media.codecs.push_back({"PT" + std::to_string(pt), pt, 8000});  // static, not ours
    }
  }
  return media;
}

MediaProblem unusable_audio(const RemoteMedia& remote, bool srtp_ok) {
  if (remote.port == 0) return {304, "audio stream refused (port 0)"};
  const std::string profile = upper(remote.profile);
  if (profile != "RTP/AVP" && !(srtp_ok && profile == "RTP/SAVP")) {
    return {302, "media profile " + remote.profile + " not supported (RTP/AVP only)"};
  }
  return {};
}

Result<Codec> choose_codec(const RemoteMedia& remote, const std::vector<Codec>& preferences) {
  for (const auto& want : preferences) {
    for (const auto& offered : remote.codecs) {
      if (offered.name == want.name && offered.clock_rate == want.clock_rate) return offered;
    }
  }
  return make_error("no common codec");
}

std::string build_sdp(const LocalSdp& local, std::string_view user_agent) {
  const char* family = local.address.find(':') != std::string::npos ? "IP6" : "IP4";
  std::ostringstream out;
  out << "v=0\r\n"
      << "o=- " << local.session_id << ' ' << local.version << " IN " << family << ' '
      << local.address << "\r\n"
      << "s=" << (user_agent.empty() ? std::string_view("-") : user_agent) << "\r\n"
      << "c=IN " << family << ' ' << local.address << "\r\n"
      << "t=0 0\r\n"
      << "m=audio " << local.port << ' ' << local.profile;
  for (const auto& c : local.codecs) out << ' ' << c.payload_type;
  if (local.telephone_event_pt >= 0) out << ' ' << local.telephone_event_pt;
  out << "\r\n";
  for (const auto& c : local.codecs) {
    const bool opus = c.name == "OPUS";
    // RFC 7587 spells it "opus"; some phones compare encoding names case-sensitively.
    out << "a=rtpmap:" << c.payload_type << ' ' << (opus ? "opus" : c.name) << '/' << c.clock_rate;
    if (c.channels != 1) out << '/' << c.channels;
    out << "\r\n";
    if (opus) {
      // We decode in-band FEC and want it sent; our side codes and plays 16 kHz.
      out << "a=fmtp:" << c.payload_type
          << " useinbandfec=1;maxplaybackrate=16000;sprop-maxcapturerate=16000\r\n";
    }
  }
  if (local.telephone_event_pt >= 0) {
    out << "a=rtpmap:" << local.telephone_event_pt << " telephone-event/"
        << local.telephone_event_rate << "\r\n"
        << "a=fmtp:" << local.telephone_event_pt << " 0-16\r\n";
  }
  if (!local.crypto.empty()) out << "a=crypto:" << local.crypto << "\r\n";
  out << "a=ptime:20\r\n"
      << "a=" << to_string(local.direction) << "\r\n";
  return out.str();
}

}  // namespace chalkbot::sip
