#pragma once
// Everything Chalkbot counts (ChalkbotMetrics), registered once in core's MetricRegistry. The
// server exposes the registry over HTTP; the layers below it that count something either use
// metrics() (agent) or are handed a hook by the server (sip: SipEndpoint's on_response).
#include <array>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "core/metric_registry.h"
#include "store/conversation_store.h"

namespace chalkbot {

enum class Provider { kAsr, kLlm, kTts };
inline constexpr std::size_t kProviderCount = 3;
const char* to_string(Provider provider);

// Everything Chalkbot counts, registered once in one registry.
class ChalkbotMetrics {
 public:
  explicit ChalkbotMetrics(MetricRegistry& registry);

  MetricRegistry& registry;
  Gauge& calls_active;
  Counter& calls_started;
  Counter& turns;
  // Per-stage latency of each answered turn (seconds): speech end -> endpoint, endpoint -> ASR
  // done, ASR done -> first LLM token, first sentence -> first TTS audio, and the whole response
  // (speech end -> first RTP packet of the answer).
  Histogram& endpoint_seconds;
  Histogram& asr_seconds;
  Histogram& llm_first_token_seconds;
  Histogram& tts_first_audio_seconds;
  Histogram& response_latency_seconds;
  Histogram& store_write_seconds;
  Gauge& store_writable;        // 0 while writes fail (they are kept and retried)
  Gauge& store_pending_writes;  // accepted, not stored yet
  Counter& store_dropped_writes;   // refused: too many pending
  Counter& store_rejected_writes;  // refused by the backend, set aside in the rejected file
  Counter& transfers_succeeded;    // the new party answered; the bot hung up
  Counter& transfers_failed;       // refused, the new call failed, or no outcome in time
  Counter& rtp_packets_received;
  Counter& rtp_packets_sent;
  Counter& rtp_packets_lost;  // frames concealed for packets that never came
  Counter& rtp_packets_late;
  Counter& srtp_packets_rejected;  // SRTP/SRTCP that failed authentication (added at call end)
  Counter& sip_srtp_refused;       // INVITEs refused 488 by media.srtp (no usable a=crypto)
  Histogram& rtp_jitter_buffer_seconds;  // each call's jitter-buffer delay at its end
  Gauge& heap_in_use_bytes;  // sampled by the housekeeping loop: what a leak would grow

  // The end reason of a call; reasons not known at start-up are counted as "other".
  Counter& call_ended(std::string_view reason);
  // A SIP response we sent; codes without a series of their own are counted as "other".
  Counter& sip_response(int code);
  // kind: one of kProviderFailureKinds (core/result.h); anything else counts as other.
  Counter& provider_error(Provider provider, std::string_view kind);
  // An answered turn: counts it and observes each stage it has both ends of.
  void observe_turn(const StageTimes& times);
  // The store's health, sampled by the server's housekeeping loop.
  void observe_store(const StoreHealth& health);

 private:
  std::map<std::string, Counter*, std::less<>> ended_by_reason_;
  Counter* ended_other_;
  std::array<Counter*, 700> sip_by_code_{};
  Counter* sip_other_;
  std::array<std::map<std::string, Counter*, std::less<>>, kProviderCount> provider_errors_;
};

// The process's metrics (registered on first use).
ChalkbotMetrics& metrics();

// Counts chalkbot_provider_errors_total{provider,kind} (any thread, lock-free). The server calls
// it for each failure report_provider_failure() hands on: one the caller noticed (after the
// client's own retries), never a cancelled request.
void count_provider_error(Provider provider, std::string_view kind);

}  // namespace chalkbot
