#pragma once
// Per-call RTP media, one media thread for every call (rtpengine-style: a poller plus one
// absolute-deadline 20 ms tick; see DESIGN.md "Threads").
//
// Threads and who may call what:
//   MediaEngine::create/open_session/stats getters  any thread (open_session is cheap: a short
//                                                     allocator lock and two binds)
//   MediaEngine::release_retired                     any thread but the media thread
//   ~MediaEngine                                     the owner; stops and joins the media thread,
//                                                     closes every session still open
//   MediaSession control (start, set_remote, hold, close) and stats/getters: any thread
//   MediaSession input  (pop_frame, pop_dtmf, wait_for_input): ONE consumer thread (the agent)
//   MediaSession output (enqueue_audio, flush_audio, clear_playback): ONE producer thread (the
//   agent)
// The media thread itself never blocks, locks (only try_lock for control changes, once per tick),
// allocates, frees, logs or touches disk per packet: sessions preallocate their rings and
// buffers, and a session the media thread lets go of is freed by another thread (see
// release_retired()).
// Control changes (start, set_remote, close, hold) take effect on the next tick (<= 20 ms).
#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/audio.h"
#include "core/clock.h"
#include "core/result.h"
#include "core/settings.h"
#include "media/call_audio.h"
#include "media/dtmf.h"
#include "media/g722.h"
#include "media/jitter_buffer.h"
#include "media/opus_codec.h"
#include "media/spsc_ring.h"
#include "media/srtp_stream.h"

namespace chalkbot {

struct MediaStats {
  std::uint64_t packets_in = 0, bytes_in = 0;    // valid RTP accepted from the peer
  std::uint64_t packets_out = 0, bytes_out = 0;  // RTP sent (audio and silence)
  std::uint64_t rtcp_in = 0, rtcp_out = 0;
  std::uint64_t rejected_in = 0;  // malformed, wrong payload type, or from a foreign address
  std::uint64_t late_in = 0, duplicate_in = 0, concealed_frames = 0;  // jitter buffer
  std::uint64_t capture_overflow = 0;  // decoded frames dropped: the agent did not read them
  std::uint64_t send_errors = 0;
  std::uint64_t srtp_rejected_in = 0;  // SRTP/SRTCP that failed authentication: dropped
};

class MediaEngine;

// What a session sends and receives, fixed when it is opened (a re-INVITE keeps the call's codec):
// G.711 (PCMU/PCMA, 8 kHz), G.722 or Opus (both 16 kHz to the call).
enum class MediaCodec { kG711, kG722, kOpus };
int sample_rate_of(MediaCodec codec);

class MediaSession final : public CallAudio {
 public:
  // 2.56 s of queued bot speech: the call's voice stays 1.5 s ahead of playback. The ring is all
  // touched once that much was said, so it is kept small: 40 KB of every G.711 call (80 KB of a
  // wideband one: its frames are 16 kHz).
  static constexpr std::size_t kPlaybackFrames = 128;
  // 1.28 s of caller audio not yet read: the call pool takes it every tick, so more only costs
  // memory (the ring is all touched within its length of a call: 21 KB of every idle call).
  static constexpr std::size_t kCaptureFrames = 64;
  static constexpr std::size_t kDtmfDigits = 32;

  ~MediaSession() override;
  MediaSession(const MediaSession&) = delete;
  MediaSession& operator=(const MediaSession&) = delete;

  // --- control: any thread ---
  std::uint16_t local_port() const { return rtp_port_; }  // even; RTCP is local_port() + 1
  std::uint16_t local_rtcp_port() const { return static_cast<std::uint16_t>(rtp_port_ + 1); }
  MediaCodec codec() const { return codec_; }
  int sample_rate() const override { return sample_rate_of(codec_); }
  // Starts sending to the SDP address (until the peer's first packet shows its real source) with
  // payload_type 0 (PCMU) or 8 (PCMA) for G.711, 9 for G.722, the negotiated dynamic type
  // (96-127) for Opus; telephone_event_pt is the RFC 4733 type, -1 if none, counting in
  // telephone_event_rate (8000, or the stream's clock: 48000 for Opus).
  Status start(const std::string& remote_ip, std::uint16_t remote_port, int payload_type,
               int telephone_event_pt, int telephone_event_rate = kTelephoneRate);
  // SRTP (RFC 3711) for this call, before start(): what we send is protected with send_key_salt,
  // and only packets that authenticate under receive_key_salt are taken (the rest are dropped and
  // counted in srtp_rejected_in). Keys: the 30-byte inline keys of SDES (sip/sdes.h). The one
  // allocation on the media thread: libsrtp's state for a new SSRC, once its first packet
  // authenticated (forged packets allocate nothing).
  Status use_srtp(std::string_view suite, std::span<const std::uint8_t> send_key_salt,
                  std::span<const std::uint8_t> receive_key_salt);
  // Re-INVITE: new address and/or codec; the symmetric-RTP latch is released.
  Status set_remote(const std::string& remote_ip, std::uint16_t remote_port, int payload_type,
                    int telephone_event_pt, int telephone_event_rate = kTelephoneRate);
  // On hold nothing is sent, queued audio waits, and inactivity is not counted.
  void hold(bool on);
  bool on_hold() const override { return on_hold_.load(std::memory_order_relaxed); }
  // Idempotent. Sockets close and ports return to the pool on the next tick. Dropping the last
  // shared_ptr also closes the session.
  void close() override;
  bool closed() const { return closing_.load(std::memory_order_acquire); }

  // --- input: the agent thread (single consumer) ---
  // Decoded caller audio after the jitter buffer, one frame_samples() frame per tick, into out
  // (which must hold that many).
  bool pop_frame(std::span<Sample> out);
  // The same, with when the caller sent it as far as this side can tell: its packet's arrival,
  // before the jitter buffer held it (a concealed frame: when the buffer played it out).
  bool pop_frame(std::span<Sample> out, SteadyClock::time_point& sent_at) override;
  // The frame pop_frame() would return after `i` more (0: the next), left in place; empty
  // when there is none.
  Samples peek_frame(std::size_t i = 0) override;
  std::optional<char> pop_dtmf() override;
  // True as soon as a frame or digit is ready; false on timeout or when the session is closed.
  bool wait_for_input(std::chrono::milliseconds timeout);

  // --- output: the agent thread (single producer) ---
  // Queues PCM at sample_rate() as 20 ms frames. A tail shorter than a frame waits for the next call or for
  // flush_audio(). Returns the samples accepted: fewer than given when the queue is full.
  std::size_t enqueue_audio(Samples pcm) override;
  // Pads the pending partial frame with silence and queues it (end of an utterance).
  // False when the queue is full and the tail is still pending: call again once it has played.
  bool flush_audio() override;
  // Barge-in: everything queued so far is dropped before the next packet goes out.
  void clear_playback() override;
  // RFC 4733 key press: '0'-'9', '*', '#', 'A'-'D' held for duration_ms (40..5000, and what the
  // 16-bit duration field holds at the event's clock: 1.36 s at 48 kHz), sent on the
  // telephone-event payload type given to start()/set_remote(). From the next tick the media
  // thread sends the event's packets instead of audio (marker on the first, one per 20 ms, the end
  // packet 3 times; same SSRC and sequence space; timestamp of the press start). Presses go out
  // in order, 40 ms of silence apart; queued audio, even audio queued before, waits until the
  // last queued press is over. Fails on an unknown digit or duration, when no telephone-event
  // type was negotiated, or when kDtmfDigits presses are already waiting.
  Status send_dtmf(char digit, int duration_ms = 100);
  // --- output observers: any thread ---
  // Key presses queued with send_dtmf() and not completely sent yet.
  bool dtmf_sending() const {
    return dtmf_queued_.load(std::memory_order_acquire) !=
           dtmf_sent_.load(std::memory_order_acquire);
  }
  int queued_ms() const override;
  bool is_playing() const { return queued_ms() > 0; }

  // --- stats: any thread ---
  MediaStats stats() const;
  // A talk spurt starts when audio is sent after silence (or after clear_playback). The count lets
  // the agent match a spurt to its turn: read it before enqueueing, then wait for it to grow.
  std::uint64_t talk_spurts() const override { return talk_spurts_.load(std::memory_order_acquire); }
  // Send time of the first packet of the latest talk spurt (nullopt before the first).
  std::optional<SteadyClock::time_point> first_audio_packet_sent_at() const override;
  // When frame k of the latest talk spurt left (k = 0 is first_audio_packet_sent_at()): frames
  // follow the 20 ms ticks, and a spurt's first packet may leave before its tick.
  std::optional<SteadyClock::time_point> spurt_frame_sent_at(std::size_t k) const;
  std::optional<SteadyClock::time_point> last_packet_received_at() const;
  // No RTP from the peer for inactivity_timeout_s since start (or since the last packet).
  bool inactive() const override;
  int jitter_target_ms() const { return jitter_target_ms_.load(std::memory_order_relaxed); }

 private:
  friend class MediaEngine;
  struct Endpoint {
    MediaSession* session;
    bool rtcp;
  };
  struct DtmfPress {
    std::uint8_t event = 0;         // RFC 4733 event code 0..15
    std::uint16_t duration_ms = 0;  // timestamp units depend on the event's clock when it is sent
  };
  // The press the media thread is sending.
  struct DtmfTx {
    DtmfPress press;
    std::uint32_t timestamp = 0;  // RTP timestamp of the press start, fixed for all its packets
    std::uint16_t duration = 0;   // the whole press, in units of the event's clock
    std::uint16_t step = 0;       // units per packet (20 ms)
    std::uint16_t elapsed = 0;    // duration field of the last packet
    int end_sent = 0;             // end packets sent (3 in all)
    int gap_ticks = 0;            // ticks of audio/silence still owed before the next press
    bool active = false;
  };
  struct Remote {
    std::array<std::uint8_t, 28> addr{};  // sockaddr_in or sockaddr_in6
    std::uint32_t addr_len = 0;
    int payload_type = 0;
    int telephone_event_pt = -1;
    int telephone_event_rate = kTelephoneRate;
    bool started = false;
  };

  // Frames in and out at the session's rate. A session has the queues of its rate only, so a
  // G.711 call costs what it did before wideband existed.
  template <std::size_t N>
  struct FrameQueues {
    using Pcm = std::array<Sample, N>;
    struct Captured {
      Pcm pcm;
      std::int64_t arrival_ns;  // steady clock; set with every push
    };
    // (No member initialisers: the rings' slots stay untouched until used.)
    SpscRing<Captured> capture{kCaptureFrames};
    SpscRing<Pcm> playback{kPlaybackFrames};
    Pcm partial{};  // the producer's pending tail; its length is partial_len_
  };
  using NarrowQueues = FrameQueues<kFrameSamples>;
  using WideQueues = FrameQueues<kWideFrameSamples>;
  // Calls f with the queues of this session's rate.
  template <class F>
  decltype(auto) with_queues(F&& f) {
    return wide_ ? f(*wide_) : f(*narrow_);
  }
  template <class F>
  decltype(auto) with_queues(F&& f) const {
    return wide_ ? f(std::as_const(*wide_)) : f(std::as_const(*narrow_));
  }

  MediaSession(int family, std::uint16_t rtp_port, int rtp_fd, int rtcp_fd,
               const MediaSettings& settings, MediaCodec codec);
  Status configure(const std::string& remote_ip, std::uint16_t remote_port, int payload_type,
                   int telephone_event_pt, int telephone_event_rate, bool start);
  void notify_input();
  // Producer side, after queueing a frame: outside a talk spurt, ask the media thread to send it
  // now rather than at the next tick (up to 20 ms of answer latency saved).
  void request_spurt_start();
  bool has_input() const {
    return !with_queues([](const auto& q) { return q.capture.empty(); }) || !dtmf_.empty();
  }

  // Fixed at creation.
  const MediaCodec codec_;
  const std::uint32_t frame_ticks_;  // RTP timestamp units per 20 ms: 160, or 960 for Opus
  const int family_;
  const std::uint16_t rtp_port_;
  int rtp_fd_;
  int rtcp_fd_;
  const std::int64_t inactivity_ns_;
  // The engine's eventfd (a talk spurt can start before the next tick); -1 once the engine is
  // gone, which happens only after the calls' agents have stopped producing.
  std::atomic<int> wake_fd_{-1};
  Endpoint rtp_ep_{this, false};
  Endpoint rtcp_ep_{this, true};

  // Control, written by any thread under control_mu_; the media thread picks it up with try_lock.
  std::mutex control_mu_;
  Remote pending_remote_;
  std::atomic<bool> control_dirty_{false};
  std::atomic<bool> closing_{false};
  std::atomic<bool> on_hold_{false};
  std::atomic<std::int64_t> activity_ref_ns_{0};  // start or un-hold time; 0 before start
  std::atomic<bool> in_spurt_seen_{false};   // in_spurt_ as the producer may see it
  std::atomic<bool> start_requested_{false};  // producer: audio is queued, please start now

  // Rings between the media thread and the agent: exactly one of narrow_ and wide_ is set.
  std::unique_ptr<NarrowQueues> narrow_;
  std::unique_ptr<WideQueues> wide_;
  SpscRing<char> dtmf_{kDtmfDigits};
  SpscRing<DtmfPress> dtmf_out_{kDtmfDigits};
  std::atomic<std::uint64_t> dtmf_queued_{0};  // written by the producer
  std::atomic<std::uint64_t> dtmf_sent_{0};    // written by the media thread (sent or dropped)
  std::atomic<std::uint32_t> input_seq_{0};  // futex word: bumped on every input
  std::atomic<std::uint32_t> waiters_{0};
  std::atomic<std::uint64_t> clear_until_{0};  // playback write index at the last clear
  // Samples in the agent-side partial frame (producer only), readable by queued_ms().
  std::atomic<std::size_t> partial_len_{0};

  // Stats: written by the media thread, read anywhere.
  std::atomic<std::uint64_t> packets_in_{0}, bytes_in_{0}, packets_out_{0}, bytes_out_{0},
      rtcp_in_{0}, rtcp_out_{0}, rejected_in_{0}, late_in_{0}, duplicate_in_{0}, concealed_{0},
      capture_overflow_{0}, send_errors_{0}, srtp_rejected_in_{0};
  std::atomic<std::int64_t> last_rx_ns_{0};
  std::atomic<std::int64_t> spurt_start_ns_{0};
  std::atomic<std::int64_t> spurt_anchor_ns_{0};  // see current_spurt_frame_sent_at()
  std::atomic<std::uint64_t> talk_spurts_{0};
  std::atomic<int> jitter_target_ms_{0};

  // Set by use_srtp() before start(); from then on the media thread's alone.
  std::unique_ptr<SrtpStream> srtp_send_;
  std::unique_ptr<SrtpStream> srtp_receive_;

  // Media thread only.
  Remote remote_;
  std::array<std::uint8_t, 28> latched_{};  // symmetric RTP: the peer's real source
  std::uint32_t latched_len_ = 0;
  std::array<std::uint8_t, 28> rtcp_latched_{};
  std::uint32_t rtcp_latched_len_ = 0;
  std::uint16_t seq_ = 0;
  std::uint32_t timestamp_ = 0;
  std::uint32_t ssrc_ = 0;
  bool in_spurt_ = false;
  bool sent_any_ = false;
  bool skip_tick_ = false;  // this tick's packet already left early (a talk spurt's start)
  std::uint64_t cleared_ = 0;
  std::uint32_t sr_packets_ = 0, sr_octets_ = 0;
  std::int64_t next_sr_ns_ = 0;
  JitterBuffer jitter_;
  // The wideband codecs' state, one per direction (made with the session, off the media thread).
  std::optional<G722Encoder> g722_out_;
  std::optional<G722Decoder> g722_in_;
  std::optional<OpusFrameEncoder> opus_out_;
  std::optional<OpusFrameDecoder> opus_in_;
  DtmfReceiver dtmf_rx_;
  DtmfTx dtmf_tx_;
};

// Who reads the sessions' input, and how.
struct MediaConsumer {
  // Runs on the media thread after each tick has handed the sessions their frames (the
  // consumers' cue to read them); must return at once.
  std::function<void()> after_tick;
  // Each caller frame is handed over as soon as it and those before it have arrived, not at
  // its playout tick: for a consumer that counts audio, not wall time (a recogniser), the
  // jitter buffer's delay is only spent waiting for a missing packet. (A phone that plays
  // what it hears keeps the playout delay.)
  bool frames_on_arrival = false;
};

class MediaEngine {
 public:
  // Starts the "media" thread. Fails on an empty port range or when epoll/timerfd fail.
  static Result<std::unique_ptr<MediaEngine>> create(const MediaSettings& settings,
                                                     MediaConsumer consumer = {});
  ~MediaEngine();
  MediaEngine(const MediaEngine&) = delete;
  MediaEngine& operator=(const MediaEngine&) = delete;

  // Any thread. Binds an even RTP port and the next odd RTCP port on local_ip (IPv4 or IPv6
  // literal, brackets allowed), skipping ports in use; fails when the range is exhausted.
  Result<std::shared_ptr<MediaSession>> open_session(const std::string& local_ip,
                                                     MediaCodec codec = MediaCodec::kG711);

  std::size_t port_pairs_total() const { return pairs_; }
  std::size_t port_pairs_in_use() const { return pairs_in_use_.load(std::memory_order_acquire); }
  std::size_t sessions_on_media_thread() const {
    return active_count_.load(std::memory_order_acquire);
  }
  // MediaSession objects alive, whoever holds them (a closed session's rings and buffers stay
  // allocated until its last holder lets go).
  static std::size_t sessions_alive() { return sessions_alive_.load(std::memory_order_acquire); }
  // Lets go of the sessions the media thread has dropped since the last call: a session whose
  // other holders are already gone is freed here, on the caller's thread, not on the media
  // thread. open_session() does this first; call it now and then when no call is being opened.
  void release_retired();
  // Kernel thread id of the media thread (for /proc/self/task/<tid>/stat), 0 before it runs.
  pid_t media_thread_id() const { return tid_.load(std::memory_order_acquire); }
  std::uint64_t ticks() const { return ticks_.load(std::memory_order_relaxed); }
  std::uint64_t missed_ticks() const { return missed_ticks_.load(std::memory_order_relaxed); }

 private:
  friend class MediaSession;  // counts itself in sessions_alive_
  explicit MediaEngine(const MediaSettings& settings);
  void run();
  void tick(std::int64_t now_ns);
  void skip_ticks(std::uint64_t n);
  void adopt_pending();
  void remove(std::size_t index);
  void on_readable(MediaSession::Endpoint* ep);
  void on_rtp(MediaSession& s, std::size_t size, const void* from, std::uint32_t from_len,
              std::int64_t now_ns);
  // anchor_ns: the tick slot the packet stands for (now_ns, or the next tick when sent early).
  void send_rtp(MediaSession& s, std::int64_t now_ns, std::int64_t anchor_ns);
  // Gives the session's consumer a frame out of the jitter buffer (none for kNone and
  // kTakenEarly) and updates the receive stats; false for kNone.
  bool hand_over(MediaSession& s, const JitterBuffer::Out& out, std::int64_t now_ns);
  // The session's codec: one frame of PCM at its rate out of `out` (samples written; the rest
  // of the frame is silence), and one frame into a payload (bytes written).
  static std::size_t decode(MediaSession& s, const JitterBuffer::Out& out,
                            std::span<Sample> frame);
  static std::size_t encode(MediaSession& s, Samples pcm, std::span<std::uint8_t> payload);
  // Sends the first packet of each talk spurt that was queued since the last tick, at once.
  void start_spurts_now(std::int64_t now_ns);
  // True when this tick's packet was a DTMF event; hold_audio: send silence, not queued audio.
  bool send_dtmf_packet(MediaSession& s, bool& hold_audio);
  // Sends tx_buf_[0, size) to the peer and advances sequence, timestamp and stats.
  void transmit(MediaSession& s, std::size_t size, std::size_t payload_size);
  void send_rtcp(MediaSession& s, std::int64_t now_ns);
  void release_pair(std::uint16_t rtp_port);

  const MediaSettings settings_;
  std::uint16_t first_port_ = 0;  // even
  std::size_t pairs_ = 0;

  // Port allocator: flags are atomics so the media thread frees ports without the lock.
  std::mutex alloc_mu_;
  std::size_t cursor_ = 0;
  std::unique_ptr<std::atomic<bool>[]> pair_used_;
  std::atomic<std::size_t> pairs_in_use_{0};

  // Sessions the media thread has dropped, for release_retired() to free (the media thread is the
  // only producer; consumers take retired_mu_). Sized for every port pair: a dropped session
  // held a pair, and open_session() empties it before it hands out another.
  std::mutex retired_mu_;
  std::unique_ptr<SpscRing<std::shared_ptr<MediaSession>>> retired_;
  static std::atomic<std::size_t> sessions_alive_;

  // Sessions handed over from open_session to the media thread.
  std::mutex pending_mu_;
  std::vector<std::shared_ptr<MediaSession>> pending_;

  // Media thread only.
  std::vector<std::shared_ptr<MediaSession>> adopting_;
  std::vector<std::shared_ptr<MediaSession>> active_;
  std::array<std::uint8_t, 2048> rx_buf_{};
  std::array<std::uint8_t, 512> tx_buf_{};

  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: MediaSession::request_spurt_start()
  std::int64_t next_tick_ns_ = 0;  // when the timer fires next (steady clock); media thread
  std::atomic<bool> stop_{false};
  std::atomic<pid_t> tid_{0};
  std::atomic<std::size_t> active_count_{0};
  std::atomic<std::uint64_t> ticks_{0};
  std::atomic<std::uint64_t> missed_ticks_{0};
  MediaConsumer consumer_;  // set before the thread starts
  std::thread thread_;
};

}  // namespace chalkbot
