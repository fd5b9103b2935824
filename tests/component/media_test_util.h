#pragma once
// Helpers for the media component tests: a plain UDP socket as the far end, and settings.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/settings.h"
#include "media/media_engine.h"
#include "media/rtp_packet.h"

namespace chalkbot::testing {

inline MediaSettings media_settings(int port_min, int port_max, int inactivity_s = 30) {
  MediaSettings m;
  m.rtp_port_min = port_min;
  m.rtp_port_max = port_max;
  m.codecs = "PCMU,PCMA";
  m.jitter_min_ms = 40;
  m.jitter_max_ms = 200;
  m.inactivity_timeout_s = inactivity_s;
  m.srtp = "off";
  return m;
}

// A media engine on ports lo-hi, or null (and a failed expectation) when it cannot start. Test
// binaries keep their ranges apart so that runs beside each other do not collide, and below
// 20000: not in the kernel's ephemeral range (32768-60999), where any test's outgoing socket may
// take a port, nor in the 20000-29999 that `chalkbot serve` in the integration tests uses.
inline std::unique_ptr<MediaEngine> media_engine(int lo, int hi, int inactivity_s = 30) {
  auto e = MediaEngine::create(media_settings(lo, hi, inactivity_s));
  EXPECT_TRUE(e.ok()) << (e.ok() ? "" : e.error().message);
  return e.ok() ? std::move(e).value() : nullptr;
}

struct Datagram {
  std::vector<std::uint8_t> bytes;
  std::uint16_t from_port = 0;
  std::chrono::steady_clock::time_point at;
};

// A bare IPv4 loopback UDP socket on an ephemeral port.
class RawUdp {
 public:
  RawUdp() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~RawUdp() { ::close(fd_); }
  RawUdp(const RawUdp&) = delete;
  RawUdp& operator=(const RawUdp&) = delete;

  std::uint16_t port() const { return port_; }

  void send_to(std::uint16_t port, const std::vector<std::uint8_t>& bytes) const {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }

  std::optional<Datagram> recv(std::chrono::milliseconds timeout) const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    Datagram d;
    d.bytes.resize(2048);
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const ssize_t n = ::recvfrom(fd_, d.bytes.data(), d.bytes.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return std::nullopt;
    d.bytes.resize(static_cast<std::size_t>(n));
    d.from_port = ntohs(from.sin_port);
    d.at = std::chrono::steady_clock::now();
    return d;
  }

  // Next RTP packet (RTCP and garbage skipped).
  std::optional<Datagram> recv_rtp(std::chrono::milliseconds timeout) const {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      auto d = recv(std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now()));
      if (!d) return std::nullopt;
      RtpPacketView v;
      if (parse_rtp(d->bytes, v) == RtpError::kOk) return d;
    }
    return std::nullopt;
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

inline std::vector<std::int16_t> tone(double hz, double seconds, double amplitude = 8000) {
  std::vector<std::int16_t> s(static_cast<std::size_t>(8000 * seconds));
  for (std::size_t i = 0; i < s.size(); ++i) {
    s[i] = static_cast<std::int16_t>(
        amplitude * std::sin(2 * std::numbers::pi * hz * static_cast<double>(i) / 8000.0));
  }
  return s;
}

template <class Container>
double rms(const Container& s) {
  double sum = 0;
  for (auto v : s) sum += static_cast<double>(v) * v;
  return s.empty() ? 0 : std::sqrt(sum / static_cast<double>(s.size()));
}

// The frames a session hands over in `for_how_long` (FrameT: Frame, or WideFrame for wideband).
template <class FrameT = Frame>
std::vector<FrameT> collect_frames(MediaSession& s, std::chrono::milliseconds for_how_long) {
  std::vector<FrameT> frames;
  const auto end = std::chrono::steady_clock::now() + for_how_long;
  while (std::chrono::steady_clock::now() < end) {
    if (!s.wait_for_input(std::chrono::milliseconds(50))) continue;
    FrameT f;
    while (s.pop_frame(f)) frames.push_back(f);
  }
  return frames;
}

// The digits (RFC 4733 key presses) a session reports in `for_how_long`.
inline std::string collect_digits(MediaSession& s, std::chrono::milliseconds for_how_long) {
  std::string digits;
  const auto end = std::chrono::steady_clock::now() + for_how_long;
  while (std::chrono::steady_clock::now() < end) {
    s.wait_for_input(std::chrono::milliseconds(100));
    while (auto d = s.pop_dtmf()) digits += *d;
  }
  return digits;
}

inline std::vector<std::uint8_t> rtp(std::uint8_t pt, std::uint16_t seq, std::uint32_t ts,
                                     std::uint32_t ssrc, const std::vector<std::uint8_t>& payload,
                                     bool marker = false) {
  RtpHeader h;
  h.payload_type = pt;
  h.sequence = seq;
  h.timestamp = ts;
  h.ssrc = ssrc;
  h.marker = marker;
  std::vector<std::uint8_t> out(12 + payload.size());
  out.resize(serialize_rtp(h, payload, out));
  return out;
}

}  // namespace chalkbot::testing
