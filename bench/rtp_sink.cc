// The receiving end of the media capacity benchmark: binds a block of RTP ports on loopback, and
// for every stream that arrives measures loss (sequence gaps) and pacing (the spacing of arrivals
// against the 20 ms the sender promised, from kernel receive timestamps so that this process's own
// scheduling does not count). Every packet is answered with one packet of G.711 silence from the
// same port, so the server sees two-way RTP without hearing anything to recognise. With
// --line-noise the answer is quiet line noise (about -60 dBFS) instead of digital silence: the
// server's voice detector then has to judge every window (it skips long digital silence).
// With --srtp-crypto the answers are SRTP under that a=crypto attribute (the key the callers
// offered, so the server can authenticate them); what arrives is measured from its RTP header,
// which SRTP leaves in the clear. With --opus-pt the answers are Opus (RFC 7587) under that
// payload type, one 20 ms packet coded by libopus at 16 kHz (of the noise or the silence), so the
// server decodes Opus as it would from a phone.
//
//   chalkbot_rtp_sink --ip 127.0.0.1 --first-port 40000 --ports 1200 --seconds 30 [--warmup-s 3]
//                     [--line-noise] [--srtp-crypto "1 AES_CM_128_HMAC_SHA1_80 inline:..."]
//                     [--opus-pt 111]
//
// Prints "READY" once bound, then a JSON report on stdout when the time is up (or on SIGTERM).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "media/opus_codec.h"
#include "media/srtp_stream.h"
#include "sip/sdes.h"

namespace {

volatile std::sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }

struct Stream {
  int fd = -1;
  bool seen = false;
  std::uint16_t last_seq = 0;
  std::int64_t last_arrival_ns = 0;
  std::uint64_t received = 0, lost = 0;
  sockaddr_in peer{};
  std::vector<std::uint8_t> reply;  // header + payload
  std::uint16_t reply_seq = 0;
  std::uint32_t reply_ts = 0;
  std::unique_ptr<chalkbot::SrtpStream> srtp;  // --srtp-crypto only
};

std::int64_t kernel_time_ns(msghdr& msg) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
      timespec ts{};
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    }
  }
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

int main(int argc, char** argv) {
  std::string ip = "127.0.0.1";
  int first_port = 40000, ports = 100;
  double seconds = 10, warmup_s = 2;
  CLI::App app{"RTP sink for the media capacity benchmark"};
  app.add_option("--ip", ip);
  app.add_option("--first-port", first_port);
  app.add_option("--ports", ports, "how many ports (every other one: RTP uses even ports)");
  app.add_option("--seconds", seconds, "measure for this long after the first packet");
  app.add_option("--warmup-s", warmup_s, "per stream: arrivals in its first seconds not counted");
  double give_up_s = 60;
  app.add_option("--give-up-s", give_up_s,
                 "report no streams and exit when no packet has come for this long from the start");
  bool line_noise = false;
  app.add_flag("--line-noise", line_noise, "answer with quiet line noise, not digital silence");
  std::string srtp_crypto;
  app.add_option("--srtp-crypto", srtp_crypto, "answer with SRTP under this a=crypto attribute");
  int opus_pt = -1;
  app.add_option("--opus-pt", opus_pt, "answer with Opus packets of this payload type")
      ->check(CLI::Range(96, 127));
  CLI11_PARSE(app, argc, argv);
  std::optional<chalkbot::sip::CryptoAttribute> crypto;
  if (!srtp_crypto.empty()) {
    auto parsed = chalkbot::sip::parse_crypto(srtp_crypto);
    if (!parsed) {
      std::fprintf(stderr, "rtp_sink: --srtp-crypto: %s\n", parsed.error().message.c_str());
      return 2;
    }
    crypto = *parsed;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  // An Opus answer: the 5th packet of the same sound coded at 16 kHz (the encoder settled).
  std::vector<std::uint8_t> opus_payload;
  if (opus_pt >= 0) {
    auto encoder = chalkbot::OpusFrameEncoder::create();
    if (!encoder) {
      std::fprintf(stderr, "rtp_sink: opus: %s\n", encoder.error().message.c_str());
      return 1;
    }
    std::vector<chalkbot::Sample> pcm(chalkbot::OpusRtp::kSamplesPer20Ms, 0);
    std::uint32_t seed = 0x9E37'79B9U;
    std::array<std::uint8_t, 1500> packet{};
    std::size_t size = 0;
    for (int frame = 0; frame < 5; ++frame) {
      if (line_noise) {  // +-24..48 of 32767, like the G.711 noise below
        for (auto& sample : pcm) {
          seed = seed * 1'664'525U + 1'013'904'223U;
          const int level = 24 + static_cast<int>((seed >> 16) % 25);
          sample = static_cast<chalkbot::Sample>((seed >> 31) != 0 ? level : -level);
        }
      }
      const auto coded = encoder->encode(pcm, packet);
      if (!coded) {
        std::fprintf(stderr, "rtp_sink: opus: cannot encode\n");
        return 1;
      }
      size = *coded;
    }
    opus_payload.assign(packet.begin(), packet.begin() + static_cast<std::ptrdiff_t>(size));
  }
  const std::uint32_t reply_ticks = opus_pt >= 0 ? chalkbot::OpusRtp::kTimestampPer20Ms : 160;

  const int epoll_fd = epoll_create1(0);
  std::vector<Stream> streams(static_cast<std::size_t>(ports));
  for (int i = 0; i < ports; ++i) {
    Stream& s = streams[static_cast<std::size_t>(i)];
    s.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    const int on = 1;
    setsockopt(s.fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    const int buffer = 256 * 1024;
    setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(first_port + 2 * i));
    inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
    if (bind(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::fprintf(stderr, "rtp_sink: cannot bind %s:%d: %s\n", ip.c_str(), first_port + 2 * i,
                   std::strerror(errno));
      return 1;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, s.fd, &ev);
    s.reply.assign(12 + (opus_pt >= 0 ? opus_payload.size() : 160), 0xFF);  // u-law silence
    s.reply[0] = 0x80;  // RTP v2
    s.reply[1] = static_cast<std::uint8_t>(opus_pt >= 0 ? opus_pt : 0);  // Opus or PCMU
    if (opus_pt >= 0) {
      std::copy(opus_payload.begin(), opus_payload.end(), s.reply.begin() + 12);
    } else if (line_noise) {
      // u-law codes 0xF9-0xFC and 0x79-0x7C: +-24..48 of 32767, in a fixed random order.
      std::uint32_t seed = 0x9E37'79B9U * static_cast<std::uint32_t>(i + 1);
      for (std::size_t k = 12; k < s.reply.size(); ++k) {
        seed = seed * 1'664'525U + 1'013'904'223U;
        s.reply[k] = static_cast<std::uint8_t>(((seed >> 24) & 0x80U) | 0x79U | ((seed >> 16) & 3U));
      }
    }
    if (crypto) {
      auto stream = chalkbot::SrtpStream::create(chalkbot::sip::to_string(crypto->suite),
                                                 crypto->key_salt,
                                                 chalkbot::SrtpStream::Direction::kSend);
      if (!stream) {
        std::fprintf(stderr, "rtp_sink: SRTP: %s\n", stream.error().message.c_str());
        return 1;
      }
      s.srtp = std::move(*stream);
    }
    const std::uint32_t ssrc = 0x5151'0000U + static_cast<std::uint32_t>(i);
    for (std::size_t b = 0; b < 4; ++b) s.reply[8 + b] = static_cast<std::uint8_t>(ssrc >> (24 - 8 * b));
  }
  std::printf("READY\n");
  std::fflush(stdout);

  // Histogram of |arrival spacing - 20 ms| in 100 us buckets up to 100 ms.
  std::vector<std::uint64_t> deviation(1001, 0);
  std::uint64_t counted = 0;
  std::int64_t first_ns = 0;
  std::vector<std::int64_t> stream_first_ns(static_cast<std::size_t>(ports), 0);
  std::array<epoll_event, 256> events{};
  std::array<std::uint8_t, 2048> buffer{};
  std::array<char, 256> control{};
  std::vector<std::uint8_t> protected_reply(1500 + chalkbot::SrtpStream::kMaxTrailer);
  // A server that never sends (it failed to start, or refused the calls) must not keep the
  // benchmark waiting for ever.
  const auto give_up_at = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(give_up_s));
  // Set at the first packet: the measurement's end by this clock too, should packets stop.
  auto measure_until = std::chrono::steady_clock::time_point::max();
  for (;;) {
    if (stop_requested) break;
    if (std::chrono::steady_clock::now() >= (first_ns == 0 ? give_up_at : measure_until)) break;
    const int n = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), 100);
    std::int64_t now_ns = 0;
    for (int e = 0; e < n; ++e) {
      const auto index = events[static_cast<std::size_t>(e)].data.u32;
      Stream& s = streams[index];
      for (;;) {
        iovec iov{buffer.data(), buffer.size()};
        msghdr msg{};
        sockaddr_in from{};
        msg.msg_name = &from;
        msg.msg_namelen = sizeof from;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.data();
        msg.msg_controllen = control.size();
        const ssize_t got = recvmsg(s.fd, &msg, 0);
        if (got < 0) break;
        if (got < 12) continue;
        const std::int64_t at = kernel_time_ns(msg);
        now_ns = std::max(now_ns, at);
        if (first_ns == 0) {
          first_ns = at;
          measure_until = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(seconds + 5));
        }
        if (stream_first_ns[index] == 0) stream_first_ns[index] = at;
        const auto seq = static_cast<std::uint16_t>(buffer[2] << 8 | buffer[3]);
        const bool warm = at - stream_first_ns[index] >= static_cast<std::int64_t>(warmup_s * 1e9);
        if (s.seen) {
          const auto step = static_cast<std::uint16_t>(seq - s.last_seq);
          if (step >= 1 && step < 1000) {
            if (warm) {
              s.lost += step - 1U;
              const std::int64_t spacing = (at - s.last_arrival_ns) / static_cast<std::int64_t>(step);
              const std::int64_t off_us = std::abs(spacing - 20'000'000) / 1000;
              ++deviation[static_cast<std::size_t>(std::min<std::int64_t>(off_us / 100, 1000))];
              ++counted;
              ++s.received;
            }
            s.last_seq = seq;
            s.last_arrival_ns = at;
          }
        } else {
          s.seen = true;
          s.last_seq = seq;
          s.last_arrival_ns = at;
        }
        s.peer = from;
        // Answer with silence from this port: the server latches on to it (symmetric RTP).
        s.reply[2] = static_cast<std::uint8_t>(s.reply_seq >> 8);
        s.reply[3] = static_cast<std::uint8_t>(s.reply_seq & 0xff);
        for (std::size_t b = 0; b < 4; ++b) s.reply[4 + b] = static_cast<std::uint8_t>(s.reply_ts >> (24 - 8 * b));
        ++s.reply_seq;
        s.reply_ts += reply_ticks;
        const std::uint8_t* packet = s.reply.data();
        std::size_t size = s.reply.size();
        if (s.srtp) {  // protected in place: a copy, so the template stays plain
          std::copy(s.reply.begin(), s.reply.end(), protected_reply.begin());
          if (!s.srtp->protect_rtp(protected_reply.data(), size, protected_reply.size())) continue;
          packet = protected_reply.data();
        }
        sendto(s.fd, packet, size, 0, reinterpret_cast<sockaddr*>(&s.peer), sizeof s.peer);
      }
    }
    if (first_ns != 0 && now_ns - first_ns >= static_cast<std::int64_t>(seconds * 1e9)) break;
  }

  std::uint64_t lost = 0, received = 0, active = 0;
  for (const Stream& s : streams) {
    lost += s.lost;
    received += s.received;
    active += s.seen ? 1 : 0;
  }
  const auto deviation_percentile = [&](double p) {
    if (counted == 0) return 0.0;
    const auto want = static_cast<std::uint64_t>(p * static_cast<double>(counted));
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < deviation.size(); ++b) {
      seen += deviation[b];
      if (seen >= want) return static_cast<double>(b + 1) / 10.0;  // bucket's upper edge, ms
    }
    return 100.0;
  };
  nlohmann::json report{{"streams", active},
                        {"packets", received},
                        {"lost", lost},
                        {"loss_ratio", received + lost ? static_cast<double>(lost) /
                                                             static_cast<double>(received + lost)
                                                       : 0.0},
                        {"pacing_deviation_ms_p50", deviation_percentile(0.50)},
                        {"pacing_deviation_ms_p99", deviation_percentile(0.99)},
                        {"pacing_deviation_ms_p999", deviation_percentile(0.999)}};
  std::printf("%s\n", report.dump().c_str());
  return 0;
}
