#include "media/media_engine.h"

#include <arpa/inet.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <type_traits>

#include "media/g711.h"
#include "media/rtp_packet.h"

namespace chalkbot {
namespace {

constexpr std::int64_t kTickNs = std::int64_t{kFrameMs} * 1'000'000;
constexpr std::int64_t kSrIntervalNs = 5'000'000'000;
constexpr std::uint64_t kMaxCatchUpTicks = 5;  // after a stall, burst at most this many packets
constexpr int kMaxReadsPerWakeup = 32;         // fairness between sockets
constexpr int kSilentPayloadType = 13;         // comfort noise: counts as activity, not audio
constexpr char kCname[] = "chalkbot";
constexpr std::uint8_t kDtmfVolume = 10;  // RFC 4733 volume field: -10 dBm0, a typical key press
constexpr int kDtmfEndPackets = 3;        // RFC 4733 §2.5.1.4: the end packet goes out 3 times
constexpr int kMaxDtmfUnits = 0xFFFF;     // RFC 4733's duration field is 16 bits
constexpr int kDtmfGapTicks = 2;          // 40 ms between presses: receivers that detect tones
                                          // (not events) need a pause to see two presses

// '0'-'9', '*', '#', 'A'-'D' (any case) to the RFC 4733 event code; -1 for anything else.
int dtmf_char_to_event(char digit) {
  if (digit >= '0' && digit <= '9') return digit - '0';
  if (digit == '*') return 10;
  if (digit == '#') return 11;
  if (digit >= 'A' && digit <= 'D') return 12 + (digit - 'A');
  if (digit >= 'a' && digit <= 'd') return 12 + (digit - 'a');
  return -1;
}

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

std::uint64_t ntp_now() {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count();
  const auto secs = static_cast<std::uint64_t>(ns / 1'000'000'000) + 2'208'988'800ULL;
  const auto frac = (static_cast<std::uint64_t>(ns % 1'000'000'000) << 32) / 1'000'000'000ULL;
  return (secs << 32) | frac;
}

G711Law law_of(int payload_type) { return payload_type == 8 ? G711Law::kALaw : G711Law::kMuLaw; }

// An Opus packet kept by the jitter buffer: 20 ms at up to 256 kbit/s. A longer one (a peer
// ignoring our maxplaybackrate, or packing 40 ms and more) is cut, fails to decode and is
// concealed.
constexpr std::size_t kMaxOpusPayload = 640;

constexpr WideFrame kSilentFrame{};  // what goes out when nothing is queued, at either rate

JitterBuffer::Clock jitter_clock_of(MediaCodec codec) {
  switch (codec) {
    case MediaCodec::kOpus:
      return {OpusRtp::kTimestampPer20Ms, OpusRtp::kClockRate / 1000, kMaxOpusPayload};
    case MediaCodec::kG722:
      return {G722Rtp::kTimestampPer20Ms, G722Rtp::kClockRate / 1000, G722Rtp::kBytesPer20Ms};
    case MediaCodec::kG711:
      break;
  }
  return {};
}

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value, const timespec* timeout) {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, value, timeout, nullptr, 0);
}

// An IP literal (brackets allowed) plus port as a sockaddr; family 0 on failure.
struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  int family = 0;
};

SockAddr parse_address(std::string ip, std::uint16_t port) {
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  SockAddr a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.len = sizeof(sockaddr_in);
    a.family = AF_INET;
    return a;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.len = sizeof(sockaddr_in6);
    a.family = AF_INET6;
  }
  return a;
}

void set_port(std::array<std::uint8_t, 28>& addr, std::uint16_t port) {
  // sin_port and sin6_port sit at the same offset.
  auto* v4 = reinterpret_cast<sockaddr_in*>(addr.data());
  v4->sin_port = htons(port);
}

std::uint16_t get_port(const std::array<std::uint8_t, 28>& addr) {
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(addr.data());
  return ntohs(v4->sin_port);
}

int bind_udp(const SockAddr& local, std::uint16_t port) {
  const int fd = ::socket(local.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  SockAddr a = local;
  if (a.family == AF_INET6) {
    const int on = 1;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    const int tclass = 0xB8;  // DSCP EF: voice
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tclass, sizeof tclass);
    reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(port);
  } else {
    const int tos = 0xB8;
    ::setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
    reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&a.storage), a.len) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool same_address(const std::array<std::uint8_t, 28>& a, std::uint32_t a_len, const void* b,
                  std::uint32_t b_len) {
  if (a_len != b_len) return false;
  const auto* sa = reinterpret_cast<const sockaddr*>(a.data());
  const auto* sb = static_cast<const sockaddr*>(b);
  if (sa->sa_family != sb->sa_family) return false;
  if (sa->sa_family == AF_INET) {
    const auto* x = reinterpret_cast<const sockaddr_in*>(sa);
    const auto* y = reinterpret_cast<const sockaddr_in*>(sb);
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const auto* x = reinterpret_cast<const sockaddr_in6*>(sa);
  const auto* y = reinterpret_cast<const sockaddr_in6*>(sb);
  return x->sin6_port == y->sin6_port &&
         std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// MediaSession

int sample_rate_of(MediaCodec codec) {
  return codec == MediaCodec::kG711 ? kTelephoneRate : kWidebandRate;
}

MediaSession::MediaSession(int family, std::uint16_t rtp_port, int rtp_fd, int rtcp_fd,
                           const MediaSettings& settings, MediaCodec codec)
    : codec_(codec),
      frame_ticks_(jitter_clock_of(codec).frame_ticks),
      family_(family),
      rtp_port_(rtp_port),
      rtp_fd_(rtp_fd),
      rtcp_fd_(rtcp_fd),
      inactivity_ns_(std::int64_t{settings.inactivity_timeout_s} * 1'000'000'000),
      jitter_(settings.jitter_min_ms, settings.jitter_max_ms, jitter_clock_of(codec)) {
  if (codec == MediaCodec::kG711) {
    narrow_ = std::make_unique<NarrowQueues>();
  } else {
    wide_ = std::make_unique<WideQueues>();
  }
  // RFC 3550 §5.1: random initial sequence, timestamp and SSRC. One generator per thread,
  // seeded once from the system's entropy: a std::random_device per session cost more than the
  // rest of opening it at thousands of calls a second.
  thread_local std::mt19937 random{std::random_device{}()};
  seq_ = static_cast<std::uint16_t>(random());
  timestamp_ = static_cast<std::uint32_t>(random());
  ssrc_ = static_cast<std::uint32_t>(random());
  MediaEngine::sessions_alive_.fetch_add(1, std::memory_order_acq_rel);
  jitter_target_ms_.store(jitter_.target_delay_ms(), std::memory_order_relaxed);
}

MediaSession::~MediaSession() {
  // Normally the engine closed them; this covers an engine that never adopted the session.
  if (rtp_fd_ >= 0) ::close(rtp_fd_);
  if (rtcp_fd_ >= 0) ::close(rtcp_fd_);
  MediaEngine::sessions_alive_.fetch_sub(1, std::memory_order_acq_rel);
}

Status MediaSession::configure(const std::string& remote_ip, std::uint16_t remote_port,
                               int payload_type, int telephone_event_pt, int telephone_event_rate,
                               bool start) {
  switch (codec_) {
    case MediaCodec::kG711:
      if (payload_type != 0 && payload_type != 8) {
        return make_error("unsupported RTP payload type " + std::to_string(payload_type) +
                          " for G.711 (PCMU 0 or PCMA 8)");
      }
      break;
    case MediaCodec::kG722:
      if (payload_type != G722Rtp::kPayloadType) {
        return make_error("RTP payload type " + std::to_string(payload_type) +
                          " is not G.722's (9)");
      }
      break;
    case MediaCodec::kOpus:
      if (payload_type < 96 || payload_type > 127) {
        return make_error("RTP payload type " + std::to_string(payload_type) +
                          " for Opus is not a dynamic type (96-127)");
      }
      break;
  }
  if (telephone_event_pt != -1 &&
      (telephone_event_pt < 0 || telephone_event_pt > 127 || telephone_event_pt == payload_type)) {
    return make_error("bad telephone-event payload type " + std::to_string(telephone_event_pt));
  }
  // A whole number of clock units per 20 ms packet, from telephone's 8 kHz to Opus's 48 kHz.
  if (telephone_event_rate < kTelephoneRate || telephone_event_rate > 48000 ||
      telephone_event_rate % (1000 / kFrameMs) != 0) {
    return make_error("unsupported telephone-event clock rate " +
                      std::to_string(telephone_event_rate));
  }
  if (remote_port == 0) return make_error("remote RTP port is 0");
  const SockAddr a = parse_address(remote_ip, remote_port);
  if (a.family == 0) return make_error("remote address '" + remote_ip + "' is not an IP literal");
  if (a.family != family_) {
    return make_error("remote address '" + remote_ip + "' is not in the local address family");
  }
  if (closed()) return make_error("media session is closed");
  {
    std::lock_guard lock(control_mu_);
    if (start && pending_remote_.started) return make_error("media session already started");
    if (!start && !pending_remote_.started) return make_error("media session not started");
    std::memcpy(pending_remote_.addr.data(), &a.storage, a.len);
    pending_remote_.addr_len = a.len;
    pending_remote_.payload_type = payload_type;
    pending_remote_.telephone_event_pt = telephone_event_pt;
    pending_remote_.telephone_event_rate = telephone_event_rate;
    pending_remote_.started = true;
    control_dirty_.store(true, std::memory_order_release);
  }
  if (start) activity_ref_ns_.store(steady_ns(), std::memory_order_release);
  return {};
}

Status MediaSession::start(const std::string& remote_ip, std::uint16_t remote_port,
                           int payload_type, int telephone_event_pt, int telephone_event_rate) {
  return configure(remote_ip, remote_port, payload_type, telephone_event_pt, telephone_event_rate,
                   true);
}

Status MediaSession::use_srtp(std::string_view suite, std::span<const std::uint8_t> send_key_salt,
                              std::span<const std::uint8_t> receive_key_salt) {
  {
    std::lock_guard lock(control_mu_);
    if (pending_remote_.started) return make_error("SRTP must be set before the media starts");
  }
  auto send = SrtpStream::create(suite, send_key_salt, SrtpStream::Direction::kSend);
  if (!send) return send.error();
  auto receive = SrtpStream::create(suite, receive_key_salt, SrtpStream::Direction::kReceive);
  if (!receive) return receive.error();
  // start() publishes these to the media thread (control_mu_), which reads them only once started.
  std::lock_guard lock(control_mu_);
  srtp_send_ = std::move(*send);
  srtp_receive_ = std::move(*receive);
  return {};
}

Status MediaSession::set_remote(const std::string& remote_ip, std::uint16_t remote_port,
                                int payload_type, int telephone_event_pt,
                                int telephone_event_rate) {
  return configure(remote_ip, remote_port, payload_type, telephone_event_pt, telephone_event_rate,
                   false);
}

void MediaSession::hold(bool on) {
  const bool was = on_hold_.exchange(on, std::memory_order_acq_rel);
  // Back from hold: the peer may have been silent on purpose; restart the inactivity clock.
  if (was && !on) activity_ref_ns_.store(steady_ns(), std::memory_order_release);
}

void MediaSession::close() {
  closing_.store(true, std::memory_order_release);
  notify_input();  // wake a waiting agent
}

void MediaSession::notify_input() {
  input_seq_.fetch_add(1, std::memory_order_seq_cst);
  if (waiters_.load(std::memory_order_seq_cst) != 0) {
    futex(&input_seq_, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr);
  }
}

bool MediaSession::pop_frame(std::span<Sample> out) {
  SteadyClock::time_point unused;
  return pop_frame(out, unused);
}

bool MediaSession::pop_frame(std::span<Sample> out, SteadyClock::time_point& sent_at) {
  return with_queues([&](auto& q) {
    auto* captured = q.capture.front();
    if (captured == nullptr || out.size() < captured->pcm.size()) return false;
    std::copy(captured->pcm.begin(), captured->pcm.end(), out.begin());
    sent_at = SteadyClock::time_point(std::chrono::nanoseconds(captured->arrival_ns));
    q.capture.pop_front();
    return true;
  });
}

Samples MediaSession::peek_frame(std::size_t i) {
  return with_queues([&](auto& q) {
    const auto* next = q.capture.peek(i);
    return next == nullptr ? Samples{} : Samples(next->pcm);
  });
}

std::optional<char> MediaSession::pop_dtmf() {
  char c = 0;
  if (dtmf_.try_pop(c)) return c;
  return std::nullopt;
}

bool MediaSession::wait_for_input(std::chrono::milliseconds timeout) {
  const std::int64_t deadline = steady_ns() + timeout.count() * 1'000'000;
  for (;;) {
    const std::uint32_t seq = input_seq_.load(std::memory_order_seq_cst);
    if (has_input()) return true;
    if (closed()) return false;
    const std::int64_t left = deadline - steady_ns();
    if (left <= 0) return false;
    // Dekker with notify_input(): either it sees waiters_ or we see the new input_seq_.
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    if (input_seq_.load(std::memory_order_seq_cst) == seq) {
      const timespec ts{static_cast<time_t>(left / 1'000'000'000),
                        static_cast<long>(left % 1'000'000'000)};
      futex(&input_seq_, FUTEX_WAIT_PRIVATE, seq, &ts);
    }
    waiters_.fetch_sub(1, std::memory_order_seq_cst);
  }
}

void MediaSession::request_spurt_start() {
  if (in_spurt_seen_.load(std::memory_order_acquire)) return;
  if (start_requested_.exchange(true, std::memory_order_acq_rel)) return;
  const std::uint64_t one = 1;
  // Best effort: if the write fails the frame simply goes out at the next tick.
  const int fd = wake_fd_.load(std::memory_order_acquire);
  if (fd < 0) return;
  [[maybe_unused]] const ssize_t written = ::write(fd, &one, sizeof one);
}

std::size_t MediaSession::enqueue_audio(Samples pcm) {
  std::size_t used = 0;
  bool committed = false;
  std::size_t have = partial_len_.load(std::memory_order_relaxed);
  with_queues([&](auto& q) {
    const std::size_t frame_samples = q.partial.size();
    while (used < pcm.size()) {
      const std::size_t take = std::min(frame_samples - have, pcm.size() - used);
      if (have + take == frame_samples) {
        auto* slot = q.playback.try_begin_push();
        if (slot == nullptr) break;  // full: the caller retries with the rest later
        std::copy_n(q.partial.begin(), have, slot->begin());
        std::copy_n(pcm.begin() + static_cast<std::ptrdiff_t>(used), take,
                    slot->begin() + static_cast<std::ptrdiff_t>(have));
        q.playback.commit_push();
        committed = true;
        have = 0;
      } else {
        std::copy_n(pcm.begin() + static_cast<std::ptrdiff_t>(used), take,
                    q.partial.begin() + static_cast<std::ptrdiff_t>(have));
        have += take;
      }
      used += take;
    }
  });
  partial_len_.store(have, std::memory_order_relaxed);
  if (committed) request_spurt_start();
  return used;
}

bool MediaSession::flush_audio() {
  const std::size_t have = partial_len_.load(std::memory_order_relaxed);
  if (have == 0) return true;
  const bool queued = with_queues([&](auto& q) {
    auto* slot = q.playback.try_begin_push();
    if (slot == nullptr) return false;  // full: the tail stays pending
    std::copy_n(q.partial.begin(), have, slot->begin());
    std::fill(slot->begin() + static_cast<std::ptrdiff_t>(have), slot->end(), Sample{0});
    q.playback.commit_push();
    return true;
  });
  if (!queued) return false;
  partial_len_.store(0, std::memory_order_relaxed);
  request_spurt_start();
  return true;
}

void MediaSession::clear_playback() {
  partial_len_.store(0, std::memory_order_relaxed);
  clear_until_.store(with_queues([](auto& q) { return q.playback.write_index(); }),
                     std::memory_order_release);
}

Status MediaSession::send_dtmf(char digit, int duration_ms) {
  const int event = dtmf_char_to_event(digit);
  if (event < 0) return make_error(std::string("not a DTMF key: '") + digit + "'");
  if (duration_ms < 40 || duration_ms > 5000) {
    return make_error("DTMF duration " + std::to_string(duration_ms) + " ms is not in 40..5000");
  }
  {
    std::lock_guard lock(control_mu_);
    if (!pending_remote_.started) return make_error("media session not started");
    if (pending_remote_.telephone_event_pt < 0) {
      return make_error("the peer did not negotiate telephone-event (RFC 4733)");
    }
    const int longest_ms = kMaxDtmfUnits * 1000 / pending_remote_.telephone_event_rate;
    if (duration_ms > longest_ms) {
      return make_error("DTMF duration " + std::to_string(duration_ms) + " ms is more than an " +
                        "RFC 4733 event on a " +
                        std::to_string(pending_remote_.telephone_event_rate) +
                        " Hz clock can carry (" + std::to_string(longest_ms) + " ms)");
    }
  }
  const DtmfPress press{static_cast<std::uint8_t>(event), static_cast<std::uint16_t>(duration_ms)};
  if (!dtmf_out_.try_push(press)) return make_error("too many DTMF key presses queued");
  dtmf_queued_.fetch_add(1, std::memory_order_release);
  return {};
}

int MediaSession::queued_ms() const {
  const auto [head, read] = with_queues([](const auto& q) {
    return std::pair(q.playback.write_index(), q.playback.read_index());
  });
  const std::uint64_t tail = std::max(read, clear_until_.load(std::memory_order_acquire));
  const std::uint64_t frames = head > tail ? head - tail : 0;
  const std::size_t partial = partial_len_.load(std::memory_order_relaxed);
  return static_cast<int>(frames) * kFrameMs +
         static_cast<int>(partial * 1000 / static_cast<std::size_t>(sample_rate()));
}

MediaStats MediaSession::stats() const {
  constexpr auto r = std::memory_order_relaxed;
  MediaStats s;
  s.packets_in = packets_in_.load(r);
  s.bytes_in = bytes_in_.load(r);
  s.packets_out = packets_out_.load(r);
  s.bytes_out = bytes_out_.load(r);
  s.rtcp_in = rtcp_in_.load(r);
  s.rtcp_out = rtcp_out_.load(r);
  s.rejected_in = rejected_in_.load(r);
  s.late_in = late_in_.load(r);
  s.duplicate_in = duplicate_in_.load(r);
  s.concealed_frames = concealed_.load(r);
  s.capture_overflow = capture_overflow_.load(r);
  s.send_errors = send_errors_.load(r);
  s.srtp_rejected_in = srtp_rejected_in_.load(r);
  return s;
}

std::optional<SteadyClock::time_point> MediaSession::first_audio_packet_sent_at() const {
  if (talk_spurts_.load(std::memory_order_acquire) == 0) return std::nullopt;
  return SteadyClock::time_point(
      std::chrono::nanoseconds(spurt_start_ns_.load(std::memory_order_relaxed)));
}

std::optional<SteadyClock::time_point> MediaSession::spurt_frame_sent_at(std::size_t k) const {
  const auto first = first_audio_packet_sent_at();
  if (!first || k == 0) return first;
  return SteadyClock::time_point(
      std::chrono::nanoseconds(spurt_anchor_ns_.load(std::memory_order_relaxed) +
                               static_cast<std::int64_t>(k) * kTickNs));
}

std::optional<SteadyClock::time_point> MediaSession::last_packet_received_at() const {
  const std::int64_t ns = last_rx_ns_.load(std::memory_order_acquire);
  if (ns == 0) return std::nullopt;
  return SteadyClock::time_point(std::chrono::nanoseconds(ns));
}

bool MediaSession::inactive() const {
  const std::int64_t ref = activity_ref_ns_.load(std::memory_order_acquire);
  if (ref == 0 || on_hold_.load(std::memory_order_acquire) || closed()) return false;
  const std::int64_t last = std::max(ref, last_rx_ns_.load(std::memory_order_acquire));
  return steady_ns() - last > inactivity_ns_;
}

// ---------------------------------------------------------------------------------------------
// MediaEngine

Result<std::unique_ptr<MediaEngine>> MediaEngine::create(const MediaSettings& settings,
                                                         MediaConsumer consumer) {
  const int lo = settings.rtp_port_min + (settings.rtp_port_min % 2);  // first even port
  if (settings.rtp_port_min < 1 || settings.rtp_port_max > 65535 ||
      lo + 1 > settings.rtp_port_max) {
    return make_error("media port range " + std::to_string(settings.rtp_port_min) + "-" +
                      std::to_string(settings.rtp_port_max) + " holds no RTP/RTCP port pair");
  }
  if (settings.inactivity_timeout_s < 1)
    return make_error("media.inactivity_timeout_s must be >= 1");
  std::unique_ptr<MediaEngine> engine(new MediaEngine(settings));
  engine->first_port_ = static_cast<std::uint16_t>(lo);
  engine->pairs_ = static_cast<std::size_t>((settings.rtp_port_max - lo + 1) / 2);
  engine->pair_used_ = std::make_unique<std::atomic<bool>[]>(engine->pairs_);
  // Sized for every port pair so adopting a session never reallocates on the media thread.
  engine->pending_.reserve(engine->pairs_);
  engine->adopting_.reserve(engine->pairs_);
  engine->active_.reserve(engine->pairs_);
  engine->retired_ = std::make_unique<SpscRing<std::shared_ptr<MediaSession>>>(engine->pairs_);

  engine->epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (engine->epoll_fd_ < 0)
    return make_error(std::string("epoll_create1: ") + std::strerror(errno));
  engine->timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (engine->timer_fd_ < 0)
    return make_error(std::string("timerfd_create: ") + std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the timer is the only null entry
  if (::epoll_ctl(engine->epoll_fd_, EPOLL_CTL_ADD, engine->timer_fd_, &ev) != 0) {
    return make_error(std::string("epoll_ctl(timerfd): ") + std::strerror(errno));
  }
  engine->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (engine->wake_fd_ < 0) return make_error(std::string("eventfd: ") + std::strerror(errno));
  ev.data.ptr = &engine->wake_fd_;
  if (::epoll_ctl(engine->epoll_fd_, EPOLL_CTL_ADD, engine->wake_fd_, &ev) != 0) {
    return make_error(std::string("epoll_ctl(eventfd): ") + std::strerror(errno));
  }
  // Absolute schedule: the kernel fires at start + k * 20 ms, so the pace never drifts with how
  // long a tick took (no relative sleeps).
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  itimerspec spec{};
  spec.it_interval.tv_nsec = kTickNs;
  spec.it_value = now;
  spec.it_value.tv_nsec += kTickNs;
  if (spec.it_value.tv_nsec >= 1'000'000'000) {
    spec.it_value.tv_nsec -= 1'000'000'000;
    ++spec.it_value.tv_sec;
  }
  if (::timerfd_settime(engine->timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr) != 0) {
    return make_error(std::string("timerfd_settime: ") + std::strerror(errno));
  }
  engine->next_tick_ns_ =
      static_cast<std::int64_t>(spec.it_value.tv_sec) * 1'000'000'000 + spec.it_value.tv_nsec;
  engine->consumer_ = std::move(consumer);
  engine->thread_ = std::thread([e = engine.get()] { e->run(); });
  return engine;
}

std::atomic<std::size_t> MediaEngine::sessions_alive_{0};

MediaEngine::MediaEngine(const MediaSettings& settings) : settings_(settings) {}

MediaEngine::~MediaEngine() {
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(pending_mu_);
    for (auto& s : pending_) active_.push_back(std::move(s));
    pending_.clear();
  }
  for (auto& s : active_) {
    s->close();
    s->wake_fd_.store(-1, std::memory_order_release);
    if (s->rtp_fd_ >= 0) ::close(s->rtp_fd_);
    if (s->rtcp_fd_ >= 0) ::close(s->rtcp_fd_);
    s->rtp_fd_ = s->rtcp_fd_ = -1;
  }
  active_.clear();
  release_retired();
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (timer_fd_ >= 0) ::close(timer_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

Result<std::shared_ptr<MediaSession>> MediaEngine::open_session(const std::string& local_ip,
                                                               MediaCodec codec) {
  const SockAddr local = parse_address(local_ip, 0);
  if (local.family == 0)
    return make_error("local media address '" + local_ip + "' is not an IP literal");
  if (stop_.load(std::memory_order_acquire)) return make_error("media engine is stopping");
  release_retired();  // ended calls' memory first, for this one to reuse

  std::shared_ptr<MediaSession> session;
  {
    std::lock_guard lock(alloc_mu_);
    for (std::size_t tried = 0; tried < pairs_ && !session; ++tried) {
      const std::size_t pair = cursor_;
      cursor_ = (cursor_ + 1) % pairs_;  // rotate: a just-freed port is not reused at once
      if (pair_used_[pair].load(std::memory_order_acquire)) continue;
      const auto port = static_cast<std::uint16_t>(first_port_ + 2 * pair);
      const int rtp = bind_udp(local, port);
      if (rtp < 0) continue;  // taken by someone else
      const int rtcp = bind_udp(local, static_cast<std::uint16_t>(port + 1));
      if (rtcp < 0) {
        ::close(rtp);
        continue;
      }
      pair_used_[pair].store(true, std::memory_order_release);
      pairs_in_use_.fetch_add(1, std::memory_order_acq_rel);
      session.reset(new MediaSession(local.family, port, rtp, rtcp, settings_, codec));
      session->wake_fd_.store(wake_fd_, std::memory_order_release);
    }
  }
  if (!session) {
    return make_error("no free RTP/RTCP port pair in " + std::to_string(settings_.rtp_port_min) +
                      "-" + std::to_string(settings_.rtp_port_max) + " on " + local_ip);
  }
  // The codec state, here and not on the media thread (it allocates). A failure drops the
  // session, whose destructor closes its sockets; the engine never saw it.
  // Makes one codec's encoder and decoder into `out` and `in`; false when either fails.
  std::string codec_error;
  const auto make_pair = [&](const char* name, auto& out, auto& in) {
    auto encoder = std::remove_reference_t<decltype(*out)>::create();
    auto decoder = std::remove_reference_t<decltype(*in)>::create();
    if (!encoder || !decoder) {
      codec_error = std::string(name) + " codec: " +
                    (encoder ? decoder.error() : encoder.error()).message;
      return false;
    }
    out.emplace(std::move(*encoder));
    in.emplace(std::move(*decoder));
    return true;
  };
  const bool made = codec == MediaCodec::kG722 ? make_pair("G.722", session->g722_out_,
                                                           session->g722_in_)
                    : codec == MediaCodec::kOpus ? make_pair("Opus", session->opus_out_,
                                                             session->opus_in_)
                                                 : true;
  if (!made) {
    release_pair(session->rtp_port_);
    return make_error(codec_error);
  }
  std::lock_guard lock(pending_mu_);
  pending_.push_back(session);
  return session;
}

void MediaEngine::release_retired() {
  if (!retired_) return;
  std::lock_guard lock(retired_mu_);
  std::shared_ptr<MediaSession> session;
  while (retired_->try_pop(session)) session.reset();
}

void MediaEngine::release_pair(std::uint16_t rtp_port) {
  const std::size_t pair = static_cast<std::size_t>(rtp_port - first_port_) / 2;
  pair_used_[pair].store(false, std::memory_order_release);
  pairs_in_use_.fetch_sub(1, std::memory_order_acq_rel);
}

void MediaEngine::run() {
  pthread_setname_np(pthread_self(), "media");
  tid_.store(static_cast<pid_t>(::syscall(SYS_gettid)), std::memory_order_release);
  std::array<epoll_event, 64> events{};
  while (!stop_.load(std::memory_order_acquire)) {
    // The timer fires every 20 ms, so the timeout only guards against a broken timer.
    const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 100);
    std::uint64_t expirations = 0;
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      void* tag = events[static_cast<std::size_t>(i)].data.ptr;
      if (tag == &wake_fd_) {
        std::uint64_t count = 0;
        woken = ::read(wake_fd_, &count, sizeof count) == sizeof count || woken;
        continue;
      }
      auto* ep = static_cast<MediaSession::Endpoint*>(tag);
      if (ep == nullptr) {
        std::uint64_t count = 0;
        if (::read(timer_fd_, &count, sizeof count) == sizeof count) expirations += count;
      } else {
        on_readable(ep);
      }
    }
    next_tick_ns_ += static_cast<std::int64_t>(expirations) * kTickNs;
    if (expirations > 0) {
      // Sockets were all served above, so removing sessions in the tick leaves no stale event.
      const std::uint64_t run_ticks = std::min(expirations, kMaxCatchUpTicks);
      if (expirations > 1) missed_ticks_.fetch_add(expirations - 1, std::memory_order_relaxed);
      if (expirations > run_ticks) skip_ticks(expirations - run_ticks);
      for (std::uint64_t t = 0; t < run_ticks; ++t) tick(steady_ns());
      if (consumer_.after_tick) consumer_.after_tick();
    }
    // After the ticks: a spurt they already started is not started twice.
    if (woken) start_spurts_now(steady_ns());
  }
}

void MediaEngine::adopt_pending() {
  {
    std::unique_lock lock(pending_mu_, std::try_to_lock);
    if (!lock.owns_lock() || pending_.empty()) return;
    adopting_.swap(pending_);  // both reserved for every pair: no allocation
  }
  for (auto& s : adopting_) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &s->rtp_ep_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, s->rtp_fd_, &ev);
    ev.data.ptr = &s->rtcp_ep_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, s->rtcp_fd_, &ev);
    active_.push_back(std::move(s));
  }
  adopting_.clear();
  active_count_.store(active_.size(), std::memory_order_release);
}

void MediaEngine::remove(std::size_t index) {
  std::shared_ptr<MediaSession> s = std::move(active_[index]);
  active_[index] = std::move(active_.back());
  active_.pop_back();
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, s->rtp_fd_, nullptr);
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, s->rtcp_fd_, nullptr);
  ::close(s->rtp_fd_);
  ::close(s->rtcp_fd_);
  s->rtp_fd_ = s->rtcp_fd_ = -1;
  s->closing_.store(true, std::memory_order_release);
  s->notify_input();
  release_pair(s->rtp_port_);
  active_count_.store(active_.size(), std::memory_order_release);
  // Whoever frees it, not this thread: its call may have let go already. (The ring has room for
  // every session that can exist; were it ever full, freeing here is still correct.)
  (void)retired_->try_push(std::move(s));
}

void MediaEngine::skip_ticks(std::uint64_t n) {
  // Time passed without packets (the process stalled): timestamps follow the clock.
  for (auto& s : active_) s->timestamp_ += static_cast<std::uint32_t>(n * s->frame_ticks_);
}

bool MediaEngine::hand_over(MediaSession& s, const JitterBuffer::Out& out, std::int64_t now_ns) {
  using Kind = JitterBuffer::Kind;
  if (out.kind == Kind::kNone) return false;
  if (out.kind != Kind::kTakenEarly) {
    s.with_queues([&](auto& q) {
      auto* captured = q.capture.try_begin_push();
      if (captured == nullptr) {
        s.capture_overflow_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      const std::span<Sample> frame(captured->pcm);
      const std::size_t n = decode(s, out, frame);
      std::fill(frame.begin() + static_cast<std::ptrdiff_t>(n), frame.end(), Sample{0});
      captured->arrival_ns = out.arrival_us >= 0 ? out.arrival_us * 1000 : now_ns;
      q.capture.commit_push();
      s.notify_input();
    });
  }
  const auto& js = s.jitter_.stats();
  s.late_in_.store(js.late, std::memory_order_relaxed);
  s.duplicate_in_.store(js.duplicates, std::memory_order_relaxed);
  s.concealed_.store(js.concealed, std::memory_order_relaxed);
  s.jitter_target_ms_.store(s.jitter_.target_delay_ms(), std::memory_order_relaxed);
  return true;
}

std::size_t MediaEngine::decode(MediaSession& s, const JitterBuffer::Out& out,
                               std::span<Sample> frame) {
  using Kind = JitterBuffer::Kind;
  switch (s.codec_) {
    case MediaCodec::kG711:
      if (out.kind == Kind::kConcealSilence) return 0;
      return g711_decode_into(law_of(s.remote_.payload_type), out.payload, frame);
    case MediaCodec::kG722:
      if (out.kind == Kind::kConcealSilence) return 0;
      return s.g722_in_->decode(out.payload, frame);
    case MediaCodec::kOpus: {
      // A lost packet is rebuilt by the decoder (from the next one's FEC when it is here), not
      // by playing the last packet again.
      const auto n = out.kind == Kind::kFrame ? s.opus_in_->decode(out.payload, frame)
                                              : s.opus_in_->conceal(out.next_payload, frame);
      return n.value_or(0);
    }
  }
  return 0;
}

void MediaEngine::tick(std::int64_t now_ns) {
  ticks_.fetch_add(1, std::memory_order_relaxed);
  adopt_pending();
  for (std::size_t i = 0; i < active_.size();) {
    MediaSession& s = *active_[i];
    // The engine's reference is the last one: nobody can reach the session any more.
    if (s.closing_.load(std::memory_order_acquire) || active_[i].use_count() == 1) {
      remove(i);
      continue;
    }
    ++i;
    if (s.control_dirty_.load(std::memory_order_acquire)) {
      std::unique_lock lock(s.control_mu_, std::try_to_lock);
      if (lock.owns_lock()) {
        const bool moved = s.remote_.addr_len != s.pending_remote_.addr_len ||
                           std::memcmp(s.remote_.addr.data(), s.pending_remote_.addr.data(),
                                       s.remote_.addr.size()) != 0;
        if (moved) {
          s.latched_len_ = 0;  // re-INVITE: learn the peer's source again
          s.rtcp_latched_len_ = 0;
        }
        s.remote_ = s.pending_remote_;
        s.control_dirty_.store(false, std::memory_order_relaxed);
        if (s.next_sr_ns_ == 0) s.next_sr_ns_ = now_ns + kSrIntervalNs;
      }
    }
    if (!s.remote_.started) continue;

    // Inbound: one frame per tick out of the jitter buffer, to the agent.
    hand_over(s, s.jitter_.pop(), now_ns);

    // Outbound: exactly one packet per tick unless on hold.
    if (s.on_hold_.load(std::memory_order_acquire)) {
      s.timestamp_ += s.frame_ticks_;
      continue;
    }
    if (s.skip_tick_) {
      s.skip_tick_ = false;  // its packet left early, with this tick's timestamp
    } else {
      send_rtp(s, now_ns, now_ns);
    }
    if (now_ns >= s.next_sr_ns_) {
      send_rtcp(s, now_ns);
      s.next_sr_ns_ = now_ns + kSrIntervalNs;
    }
  }
}

void MediaEngine::start_spurts_now(std::int64_t now_ns) {
  for (auto& session : active_) {
    MediaSession& s = *session;
    if (!s.start_requested_.exchange(false, std::memory_order_acq_rel)) continue;
    // Only a plain start from silence: DTMF, hold and a pending skip keep the tick's order.
    if (!s.remote_.started || s.skip_tick_ || s.in_spurt_ || s.dtmf_tx_.active ||
        s.dtmf_tx_.gap_ticks > 0 || s.dtmf_out_.front() != nullptr ||
        s.on_hold_.load(std::memory_order_acquire) ||
        s.with_queues([](auto& q) { return q.playback.front() == nullptr; }) ||
        s.clear_until_.load(std::memory_order_acquire) > s.cleared_) {
      continue;
    }
    // The packet the next tick would have sent, sent now; that tick then sends nothing, so the
    // stream's timestamps stay on the clock and the receiver just sees one packet early.
    send_rtp(s, now_ns, next_tick_ns_);
    s.skip_tick_ = true;
  }
}

void MediaEngine::send_rtp(MediaSession& s, std::int64_t now_ns, std::int64_t anchor_ns) {
  const std::uint64_t clear = s.clear_until_.load(std::memory_order_acquire);
  if (clear > s.cleared_) {
    s.with_queues([&](auto& q) { q.playback.discard_until(clear); });
    s.cleared_ = clear;
    s.in_spurt_ = false;  // what follows a barge-in is a new spurt
  }
  bool hold_audio = false;  // between two key presses: silence, the audio queued after waits
  if (send_dtmf_packet(s, hold_audio)) return;  // a key press replaces this tick's audio
  RtpHeader h;
  h.payload_type = static_cast<std::uint8_t>(s.remote_.payload_type);
  h.sequence = s.seq_;
  h.timestamp = s.timestamp_;
  h.ssrc = s.ssrc_;
  std::array<std::uint8_t, 320> payload{};  // G.711 and G.722: 160 bytes; Opus ~60 at 24 kbit/s
  std::size_t payload_size = 0;
  const bool audio = s.with_queues([&](auto& q) {
    auto* queued = hold_audio ? nullptr : q.playback.front();
    const Samples pcm = queued != nullptr ? Samples(*queued)
                                          : Samples(kSilentFrame).first(q.partial.size());
    payload_size = encode(s, pcm, payload);
    if (queued != nullptr) q.playback.pop_front();
    return queued != nullptr;
  });
  if (audio) {
    h.marker = !s.in_spurt_;
    s.in_spurt_ = true;
  } else {
    s.in_spurt_ = false;
    h.marker = !s.sent_any_;  // the very first packet starts the stream
  }
  const std::size_t size = serialize_rtp(h, std::span(payload).first(payload_size), tx_buf_);
  if (audio && h.marker) {
    // Stamped before sendto so that whoever receives the packet already sees the new spurt.
    s.spurt_start_ns_.store(now_ns, std::memory_order_relaxed);
    s.spurt_anchor_ns_.store(anchor_ns, std::memory_order_relaxed);
    s.start_requested_.store(false, std::memory_order_relaxed);  // started: ask afresh next time
    s.talk_spurts_.fetch_add(1, std::memory_order_release);
  }
  s.in_spurt_seen_.store(s.in_spurt_, std::memory_order_release);
  transmit(s, size, payload_size);
}

std::size_t MediaEngine::encode(MediaSession& s, Samples pcm, std::span<std::uint8_t> payload) {
  switch (s.codec_) {
    case MediaCodec::kG711:
      return g711_encode_into(law_of(s.remote_.payload_type), pcm, payload);
    case MediaCodec::kG722:
      return s.g722_out_->encode(pcm, payload);
    case MediaCodec::kOpus:
      // libopus fails only on a bad frame length or a buffer too short, neither of which
      // happens here; an empty packet would still keep the stream's timing.
      return s.opus_out_->encode(pcm, payload).value_or(0);
  }
  return 0;
}

bool MediaEngine::send_dtmf_packet(MediaSession& s, bool& hold_audio) {
  MediaSession::DtmfTx& tx = s.dtmf_tx_;
  if (!tx.active) {
    if (tx.gap_ticks > 0) {
      --tx.gap_ticks;
      hold_audio = s.dtmf_out_.front() != nullptr;  // another press follows: keep the order
      return false;
    }
    MediaSession::DtmfPress* next = s.dtmf_out_.front();
    if (next == nullptr) return false;
    tx.press = *next;
    s.dtmf_out_.pop_front();
    if (s.remote_.telephone_event_pt < 0) {
      // A re-INVITE dropped telephone-event after the press was queued: nowhere to send it.
      s.dtmf_sent_.fetch_add(1, std::memory_order_release);
      return false;
    }
    tx.active = true;
    tx.timestamp = s.timestamp_;
    const int rate = s.remote_.telephone_event_rate;
    // A re-INVITE may have moved the event to a faster clock since the press was queued.
    tx.duration = static_cast<std::uint16_t>(std::min<long>(
        kMaxDtmfUnits, static_cast<long>(rate) * tx.press.duration_ms / 1000));
    tx.step = static_cast<std::uint16_t>(rate / (1000 / kFrameMs));
    tx.elapsed = 0;
    tx.end_sent = 0;
  }
  const bool first = tx.elapsed == 0;
  if (tx.elapsed < tx.duration) {
    tx.elapsed = static_cast<std::uint16_t>(
        std::min<std::size_t>(std::size_t{tx.elapsed} + tx.step, tx.duration));
  }
  const bool end = tx.elapsed >= tx.duration;
  const std::array<std::uint8_t, 4> payload{
      tx.press.event, static_cast<std::uint8_t>((end ? 0x80 : 0) | kDtmfVolume),
      static_cast<std::uint8_t>(tx.elapsed >> 8), static_cast<std::uint8_t>(tx.elapsed & 0xff)};
  RtpHeader h;
  h.payload_type = static_cast<std::uint8_t>(s.remote_.telephone_event_pt);
  h.marker = first;
  h.sequence = s.seq_;
  h.timestamp = tx.timestamp;
  h.ssrc = s.ssrc_;
  if (end && ++tx.end_sent == kDtmfEndPackets) {
    tx.active = false;
    tx.gap_ticks = kDtmfGapTicks;
    s.dtmf_sent_.fetch_add(1, std::memory_order_release);
  }
  s.in_spurt_ = false;  // audio after the press starts a new talk spurt (marker)
  transmit(s, serialize_rtp(h, payload, tx_buf_), payload.size());
  return true;
}

void MediaEngine::transmit(MediaSession& s, std::size_t size, std::size_t payload_size) {
  const bool latched = s.latched_len_ != 0;
  const void* to = latched ? s.latched_.data() : s.remote_.addr.data();
  const std::uint32_t to_len = latched ? s.latched_len_ : s.remote_.addr_len;
  ssize_t sent = -1;
  if (!s.srtp_send_ || s.srtp_send_->protect_rtp(tx_buf_.data(), size, tx_buf_.size())) {
    sent = ::sendto(s.rtp_fd_, tx_buf_.data(), size, 0, static_cast<const sockaddr*>(to), to_len);
  }
  // Sequence and timestamp advance even when the send failed: the peer sees a loss, not a jump.
  ++s.seq_;
  s.timestamp_ += s.frame_ticks_;
  s.sent_any_ = true;
  if (sent < 0) {
    s.send_errors_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ++s.sr_packets_;
  s.sr_octets_ += static_cast<std::uint32_t>(payload_size);
  s.packets_out_.fetch_add(1, std::memory_order_relaxed);
  s.bytes_out_.fetch_add(size, std::memory_order_relaxed);
}

void MediaEngine::send_rtcp(MediaSession& s, std::int64_t /*now_ns*/) {
  SenderReport sr;
  sr.ssrc = s.ssrc_;
  sr.ntp_time = ntp_now();
  sr.rtp_timestamp = s.timestamp_;
  sr.packet_count = s.sr_packets_;
  sr.octet_count = s.sr_octets_;
  std::array<std::uint8_t, 128 + SrtpStream::kMaxTrailer> buf{};
  std::size_t size = write_rtcp_sr(sr, std::span<const char>(kCname, sizeof kCname - 1),
                                   std::span(buf).first(128));
  if (s.srtp_send_ && !s.srtp_send_->protect_rtcp(buf.data(), size, buf.size())) return;
  std::array<std::uint8_t, 28> to{};
  std::uint32_t to_len = 0;
  if (s.rtcp_latched_len_ != 0) {
    to = s.rtcp_latched_;
    to_len = s.rtcp_latched_len_;
  } else {
    // RFC 3550 default: the RTP port + 1 of wherever we send RTP.
    const bool latched = s.latched_len_ != 0;
    to = latched ? s.latched_ : s.remote_.addr;
    to_len = latched ? s.latched_len_ : s.remote_.addr_len;
    set_port(to, static_cast<std::uint16_t>(get_port(to) + 1));
  }
  if (::sendto(s.rtcp_fd_, buf.data(), size, 0, reinterpret_cast<const sockaddr*>(to.data()),
               to_len) >= 0) {
    s.rtcp_out_.fetch_add(1, std::memory_order_relaxed);
  }
}

void MediaEngine::on_readable(MediaSession::Endpoint* ep) {
  MediaSession& s = *ep->session;
  const int fd = ep->rtcp ? s.rtcp_fd_ : s.rtp_fd_;
  for (int i = 0; i < kMaxReadsPerWakeup; ++i) {
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = ::recvfrom(fd, rx_buf_.data(), rx_buf_.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) return;  // EAGAIN (drained) or a transient ICMP error
    const std::int64_t now_ns = steady_ns();
    auto size = static_cast<std::size_t>(n);
    if (ep->rtcp) {
      if (!s.remote_.started) continue;
      if (s.srtp_receive_ && !s.srtp_receive_->unprotect_rtcp(rx_buf_.data(), size)) {
        s.srtp_rejected_in_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (!is_valid_rtcp(std::span(rx_buf_.data(), size))) continue;
      s.rtcp_in_.fetch_add(1, std::memory_order_relaxed);
      if (s.rtcp_latched_len_ == 0 && from_len <= s.rtcp_latched_.size()) {
        std::memcpy(s.rtcp_latched_.data(), &from, from_len);
        s.rtcp_latched_len_ = from_len;
      }
      continue;
    }
    if (s.remote_.started && s.srtp_receive_ &&
        !s.srtp_receive_->unprotect_rtp(rx_buf_.data(), size)) {
      // Not from the peer that holds the key (or replayed): it must not even move the latch.
      s.srtp_rejected_in_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    on_rtp(s, size, &from, from_len, now_ns);
  }
}

void MediaEngine::on_rtp(MediaSession& s, std::size_t size, const void* from,
                         std::uint32_t from_len, std::int64_t now_ns) {
  RtpPacketView p;
  if (!s.remote_.started || parse_rtp(std::span(rx_buf_.data(), size), p) != RtpError::kOk) {
    s.rejected_in_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const int pt = p.header.payload_type;
  const bool audio = pt == s.remote_.payload_type;
  const bool event = pt == s.remote_.telephone_event_pt;
  if (!audio && !event && pt != kSilentPayloadType) {
    s.rejected_in_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (s.latched_len_ == 0) {
    // Symmetric RTP (RFC 4961): answer wherever the peer really sends from (NAT).
    if (from_len > s.latched_.size()) return;
    std::memcpy(s.latched_.data(), from, from_len);
    s.latched_len_ = from_len;
  } else if (!same_address(s.latched_, s.latched_len_, from, from_len)) {
    // A stranger on our port is ignored, unless it is the address the SDP named: a stranger that
    // got in first (guessing the port before the peer's media arrived) must not keep the stream.
    if (!same_address(s.remote_.addr, s.remote_.addr_len, from, from_len)) {
      s.rejected_in_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::memcpy(s.latched_.data(), from, from_len);
    s.latched_len_ = from_len;
  }
  s.packets_in_.fetch_add(1, std::memory_order_relaxed);
  s.bytes_in_.fetch_add(size, std::memory_order_relaxed);
  s.last_rx_ns_.store(now_ns, std::memory_order_release);
  if (audio) {
    s.jitter_.insert(p.header.ssrc, p.header.timestamp, p.payload, now_ns / 1000);
    if (consumer_.frames_on_arrival && s.remote_.started) {
      while (hand_over(s, s.jitter_.take_arrived(), now_ns)) {
      }
    }
  } else if (event) {
    if (auto digit = s.dtmf_rx_.on_packet(p.header.ssrc, p.header.timestamp, p.payload)) {
      if (s.dtmf_.try_push(*digit)) s.notify_input();
    }
  }
}

}  // namespace chalkbot
