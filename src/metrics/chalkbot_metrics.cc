#include "metrics/chalkbot_metrics.h"

#include "core/result.h"

namespace chalkbot {
namespace {

// Latency buckets from 5 ms to 10 s.
std::vector<double> latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10};
}

}  // namespace

const char* to_string(Provider provider) {
  switch (provider) {
    case Provider::kAsr: return "asr";
    case Provider::kLlm: return "llm";
    case Provider::kTts: return "tts";
  }
  return "unknown";
}

constexpr const char* kTransfersHelp = "transfers to flow.transfer_to, by outcome";

ChalkbotMetrics::ChalkbotMetrics(MetricRegistry& r)
    : registry(r),
      calls_active(r.gauge("chalkbot_calls_active", "calls in progress (ringing or talking)")),
      calls_started(r.counter("chalkbot_calls_started_total", "calls admitted")),
      turns(r.counter("chalkbot_turns_total", "question-and-answer turns stored")),
      endpoint_seconds(r.histogram("chalkbot_endpoint_seconds",
                                   "caller's speech end to end of utterance detected",
                                   latency_buckets())),
      asr_seconds(r.histogram("chalkbot_asr_seconds", "end of utterance to transcript ready",
                              latency_buckets())),
      llm_first_token_seconds(r.histogram("chalkbot_llm_first_token_seconds",
                                          "transcript ready to the model's first token",
                                          latency_buckets())),
      tts_first_audio_seconds(r.histogram("chalkbot_tts_first_audio_seconds",
                                          "first sentence to its first synthesized audio",
                                          latency_buckets())),
      response_latency_seconds(r.histogram("chalkbot_response_latency_seconds",
                                           "caller's speech end to the answer's first RTP packet",
                                           latency_buckets())),
      store_write_seconds(r.histogram("chalkbot_store_write_seconds",
                                      "conversation store writes (begin call, turn, end call)",
                                      {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                       0.5, 1})),
      store_writable(r.gauge("chalkbot_store_writable",
                             "1 while the store takes writes, 0 while they fail (kept, retried)")),
      store_pending_writes(r.gauge("chalkbot_store_pending_writes",
                                   "writes accepted and not stored yet (in memory)")),
      store_dropped_writes(r.counter("chalkbot_store_dropped_writes_total",
                                     "writes refused because too many were pending")),
      store_rejected_writes(r.counter("chalkbot_store_rejected_writes_total",
                                      "writes the store refused, kept in the rejected file")),
      transfers_succeeded(r.counter("chalkbot_transfers_total", kTransfersHelp,
                                    {{"outcome", "succeeded"}})),
      transfers_failed(r.counter("chalkbot_transfers_total", kTransfersHelp,
                                 {{"outcome", "failed"}})),
      rtp_packets_received(r.counter("chalkbot_rtp_packets_received_total",
                                     "RTP packets accepted from callers (added at call end)")),
      rtp_packets_sent(r.counter("chalkbot_rtp_packets_sent_total",
                                 "RTP packets sent to callers (added at call end)")),
      rtp_packets_lost(r.counter("chalkbot_rtp_packets_lost_total",
                                 "caller frames concealed because their packet never came")),
      rtp_packets_late(r.counter("chalkbot_rtp_packets_late_total",
                                 "caller packets that came too late for the jitter buffer")),
      srtp_packets_rejected(r.counter(
          "chalkbot_srtp_packets_rejected_total",
          "SRTP/SRTCP packets dropped: authentication failed (wrong key, forged or replayed; added "
          "at call end)")),
      sip_srtp_refused(r.counter("chalkbot_sip_srtp_refused_total",
                                 "INVITEs refused 488 by media.srtp: plain RTP while SRTP is "
                                 "required, or no usable a=crypto")),
      rtp_jitter_buffer_seconds(r.histogram("chalkbot_rtp_jitter_buffer_seconds",
                                            "jitter-buffer playout delay of each call at its end",
                                            {0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.5})),
      heap_in_use_bytes(r.gauge("chalkbot_heap_in_use_bytes",
                                "bytes allocated and not freed (malloc, every arena)")) {
  const char* reasons_help = "calls ended, by reason";
  for (const char* reason :
       {"remote-bye", "cancelled", "local-hangup", "timeout", "transport-error", "shutdown",
        "caller_goodbye", "silence", "max_duration", "rtp_timeout", "dtmf_hangup", "admin_hangup",
        "store_error", "vad_error", "transferred"}) {
    ended_by_reason_[reason] = &r.counter("chalkbot_calls_ended_total", reasons_help,
                                          {{"reason", reason}});
  }
  ended_other_ = &r.counter("chalkbot_calls_ended_total", reasons_help, {{"reason", "other"}});

  const char* sip_help = "SIP responses sent, by status code";
  for (int code : {100, 180, 183, 200, 202, 400, 401, 403, 404, 405, 406, 407, 408, 415, 420, 480,
                   481, 482, 483, 486, 487, 488, 491, 500, 501, 503, 504, 513, 603}) {
    sip_by_code_[static_cast<std::size_t>(code)] =
        &r.counter("chalkbot_sip_responses_total", sip_help, {{"code", std::to_string(code)}});
  }
  sip_other_ = &r.counter("chalkbot_sip_responses_total", sip_help, {{"code", "other"}});

  // Every series exists from the start (a 0 is a fact too); the map is never changed after this.
  for (std::size_t p = 0; p < kProviderCount; ++p) {
    for (std::string_view kind : kProviderFailureKinds) {
      provider_errors_[p][std::string(kind)] = &r.counter(
          "chalkbot_provider_errors_total", "failed calls to ASR, LLM and TTS providers, by kind",
          {{"provider", to_string(static_cast<Provider>(p))}, {"kind", std::string(kind)}});
    }
  }
}

Counter& ChalkbotMetrics::call_ended(std::string_view reason) {
  const auto it = ended_by_reason_.find(reason);
  return it == ended_by_reason_.end() ? *ended_other_ : *it->second;
}

Counter& ChalkbotMetrics::sip_response(int code) {
  if (code < 0 || code >= static_cast<int>(sip_by_code_.size())) return *sip_other_;
  Counter* c = sip_by_code_[static_cast<std::size_t>(code)];
  return c ? *c : *sip_other_;
}

Counter& ChalkbotMetrics::provider_error(Provider provider, std::string_view kind) {
  const auto& by_kind = provider_errors_[static_cast<std::size_t>(provider)];
  const auto it = by_kind.find(kind);
  return it != by_kind.end() ? *it->second : *by_kind.find(std::string_view("other"))->second;
}

void ChalkbotMetrics::observe_store(const StoreHealth& health) {
  store_writable.set(health.writable ? 1 : 0);
  store_pending_writes.set(static_cast<double>(health.pending_writes));
  // The store counts since start; the counters catch up with it.
  const auto catch_up = [](Counter& counter, std::size_t total) {
    if (total > counter.value()) counter.inc(total - counter.value());
  };
  catch_up(store_dropped_writes, health.dropped_writes);
  catch_up(store_rejected_writes, health.rejected_writes);
}

void ChalkbotMetrics::observe_turn(const StageTimes& t) {
  turns.inc();
  const auto stage = [](Histogram& h, const std::optional<std::int64_t>& from,
                        const std::optional<std::int64_t>& to) {
    if (from && to && *to >= *from) h.observe(static_cast<double>(*to - *from) / 1000.0);
  };
  stage(endpoint_seconds, t.speech_end, t.endpoint);
  stage(asr_seconds, t.endpoint, t.asr_done);
  stage(llm_first_token_seconds, t.asr_done, t.llm_first_token);
  stage(tts_first_audio_seconds, t.first_sentence, t.tts_first_audio);
  stage(response_latency_seconds, t.speech_end, t.first_rtp_out);
}

ChalkbotMetrics& metrics() {
  static MetricRegistry registry;
  static ChalkbotMetrics instance(registry);
  return instance;
}

void count_provider_error(Provider provider, std::string_view kind) {
  metrics().provider_error(provider, kind).inc();
}

}  // namespace chalkbot
