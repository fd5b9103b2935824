#include "media/rtp_packet.h"

#include <string>

namespace chalkbot {
namespace {

std::uint16_t read16(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}
std::uint32_t read32(std::span<const std::uint8_t> b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) |
         (std::uint32_t{b[at + 2]} << 8) | std::uint32_t{b[at + 3]};
}
void write16(std::span<std::uint8_t> b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}
void write32(std::span<std::uint8_t> b, std::size_t at, std::uint32_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 24);
  b[at + 1] = static_cast<std::uint8_t>(v >> 16);
  b[at + 2] = static_cast<std::uint8_t>(v >> 8);
  b[at + 3] = static_cast<std::uint8_t>(v);
}

}  // namespace

const char* to_string(RtpError error) {
  switch (error) {
    case RtpError::kOk: return "ok";
    case RtpError::kTooShort: return "packet shorter than the RTP header";
    case RtpError::kBadVersion: return "RTP version is not 2";
    case RtpError::kCsrcOverrun: return "CSRC list runs past the packet";
    case RtpError::kExtensionOverrun: return "header extension runs past the packet";
    case RtpError::kBadPadding: return "padding count is zero or longer than the payload";
    case RtpError::kRtcpPayloadType: return "RTCP packet on the RTP port";
    case RtpError::kBufferTooSmall: return "output buffer too small";
    case RtpError::kBadHeaderField: return "header field out of range";
  }
  return "unknown RTP error";
}

RtpError parse_rtp(std::span<const std::uint8_t> b, RtpPacketView& out) {
  if (b.size() < kRtpFixedHeaderSize) return RtpError::kTooShort;
  if ((b[0] >> 6) != 2) return RtpError::kBadVersion;
  RtpHeader& h = out.header;
  h.padding = (b[0] & 0x20) != 0;
  const bool extension = (b[0] & 0x10) != 0;
  h.csrc_count = static_cast<std::uint8_t>(b[0] & 0x0F);
  h.marker = (b[1] & 0x80) != 0;
  h.payload_type = static_cast<std::uint8_t>(b[1] & 0x7F);
  // RFC 5761 §4: RTCP types 200..204 look like marker + PT 72..76.
  if (h.marker && h.payload_type >= 72 && h.payload_type <= 76) return RtpError::kRtcpPayloadType;
  h.sequence = read16(b, 2);
  h.timestamp = read32(b, 4);
  h.ssrc = read32(b, 8);

  std::size_t at = kRtpFixedHeaderSize;
  const std::size_t csrc_bytes = std::size_t{h.csrc_count} * 4;
  if (b.size() - at < csrc_bytes) return RtpError::kCsrcOverrun;
  for (std::size_t i = 0; i < h.csrc_count; ++i) h.csrcs[i] = read32(b, at + 4 * i);
  at += csrc_bytes;

  out.has_extension = extension;
  out.extension_profile = 0;
  out.extension = {};
  if (extension) {
    if (b.size() - at < 4) return RtpError::kExtensionOverrun;
    out.extension_profile = read16(b, at);
    const std::size_t words = read16(b, at + 2);
    at += 4;
    if (b.size() - at < words * 4) return RtpError::kExtensionOverrun;
    out.extension = b.subspan(at, words * 4);
    at += words * 4;
  }

  std::size_t end = b.size();
  if (h.padding) {
    const std::size_t pad = b[b.size() - 1];
    // The count includes itself, so it is at least 1 and may not eat into the header.
    if (pad == 0 || pad > end - at) return RtpError::kBadPadding;
    end -= pad;
  }
  out.payload = b.subspan(at, end - at);
  return RtpError::kOk;
}

Result<RtpPacketView> parse_rtp(std::span<const std::uint8_t> bytes) {
  RtpPacketView view;
  const RtpError e = parse_rtp(bytes, view);
  if (e != RtpError::kOk) return make_error(std::string("bad RTP packet: ") + to_string(e));
  return view;
}

std::size_t serialize_rtp(const RtpHeader& h, std::span<const std::uint8_t> payload,
                          std::span<std::uint8_t> out) {
  if (h.payload_type > 127 || h.csrc_count > kRtpMaxCsrc) return 0;
  const std::size_t header = kRtpFixedHeaderSize + std::size_t{h.csrc_count} * 4;
  if (out.size() < header || out.size() - header < payload.size()) return 0;
  out[0] = static_cast<std::uint8_t>(0x80 | h.csrc_count);
  out[1] = static_cast<std::uint8_t>((h.marker ? 0x80 : 0) | h.payload_type);
  write16(out, 2, h.sequence);
  write32(out, 4, h.timestamp);
  write32(out, 8, h.ssrc);
  for (std::size_t i = 0; i < h.csrc_count; ++i) write32(out, 12 + 4 * i, h.csrcs[i]);
  for (std::size_t i = 0; i < payload.size(); ++i) out[header + i] = payload[i];
  return header + payload.size();
}

bool is_valid_rtcp(std::span<const std::uint8_t> b) {
  std::size_t at = 0;
  bool first = true;
  while (at < b.size()) {
    if (b.size() - at < 4) return false;
    if ((b[at] >> 6) != 2) return false;
    const std::uint8_t pt = b[at + 1];
    if (pt < 192 || pt > 223) return false;  // RTCP packet types live in 192..223
    if (first && pt != 200 && pt != 201 && pt != 203 && pt != 204) return false;
    const std::size_t len = (std::size_t{read16(b, at + 2)} + 1) * 4;
    if (b.size() - at < len) return false;
    at += len;
    first = false;
  }
  return !first;
}

std::size_t write_rtcp_sr(const SenderReport& sr, std::span<const char> cname,
                          std::span<std::uint8_t> out) {
  if (cname.size() > 255) return 0;
  constexpr std::size_t kSrSize = 28;
  // SDES: header 4 + SSRC 4 + item (type, length, text) + at least one null, padded to 4.
  const std::size_t sdes_raw = 8 + 2 + cname.size() + 1;
  const std::size_t sdes_size = (sdes_raw + 3) / 4 * 4;
  if (out.size() < kSrSize + sdes_size) return 0;

  out[0] = 0x80;  // V=2, no padding, no report blocks
  out[1] = 200;
  write16(out, 2, kSrSize / 4 - 1);
  write32(out, 4, sr.ssrc);
  write32(out, 8, static_cast<std::uint32_t>(sr.ntp_time >> 32));
  write32(out, 12, static_cast<std::uint32_t>(sr.ntp_time));
  write32(out, 16, sr.rtp_timestamp);
  write32(out, 20, sr.packet_count);
  write32(out, 24, sr.octet_count);

  std::span<std::uint8_t> s = out.subspan(kSrSize, sdes_size);
  s[0] = 0x81;  // one chunk
  s[1] = 202;
  write16(s, 2, static_cast<std::uint16_t>(sdes_size / 4 - 1));
  write32(s, 4, sr.ssrc);
  s[8] = 1;  // CNAME
  s[9] = static_cast<std::uint8_t>(cname.size());
  for (std::size_t i = 0; i < cname.size(); ++i) s[10 + i] = static_cast<std::uint8_t>(cname[i]);
  for (std::size_t i = 10 + cname.size(); i < sdes_size; ++i) s[i] = 0;  // end + padding
  return kSrSize + sdes_size;
}

}  // namespace chalkbot
