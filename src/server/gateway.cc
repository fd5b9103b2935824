#include "server/gateway.h"

#include <algorithm>
#include <thread>

#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/work_pool.h"
#include "metrics/chalkbot_metrics.h"
#include "server/admin_api.h"
#include "server/admin_server.h"

namespace chalkbot {
namespace {

// The call's news as a transport shows it; the stages as the dashboard's waterfall has them.
StreamNews stream_news(CallNews news) {
  StreamNews out;
  out.text = std::move(news.text);
  switch (news.kind) {
    case CallNews::Kind::kCallerSaid:
      out.kind = StreamNews::Kind::kCaller;
      break;
    case CallNews::Kind::kBotSays:
      out.kind = StreamNews::Kind::kBot;
      break;
    case CallNews::Kind::kAnswered:
      out.kind = StreamNews::Kind::kTurn;
      out.interrupted = news.interrupted;
      if (const StageTimes& t = news.times; t.speech_end && t.first_rtp_out) {
        out.latency_ms = *t.first_rtp_out - *t.speech_end;
      }
      for (const StageBar& bar : stage_bars(news.times)) {
        out.stages.push_back({bar.name, bar.end_ms - bar.start_ms});
      }
      break;
  }
  return out;
}

}  // namespace

Gateway::Gateway(const CallServices& services) : services_(services) {
  const SipSettings& sip = services.settings.sip;
  media_ip_ = sip.bind_address;
  if (media_ip_.empty() || media_ip_ == "0.0.0.0" || media_ip_ == "::") {
    media_ip_ = sip.public_address;
  }
}

Gateway::~Gateway() {
  if (sip_) sip_->shutdown();
  if (audiosocket_) audiosocket_->stop_accepting();
  if (twilio_) twilio_->stop_accepting();
  if (browser_) browser_->stop_accepting();
  end_all_calls("shutdown");
  // The transports' threads call into the gateway: stopped while the gateway is whole.
  audiosocket_.reset();
  twilio_.reset();
  browser_.reset();
  media_engine_.reset();  // no more ticks wake the pool
  calls_pool_.reset();    // its threads end the calls' callbacks while calls_ still exists
}

void Gateway::end_all_calls(const std::string& reason) {
  for (auto& call : take_calls()) {
    if (call->agent) call->agent->remote_ended(reason);
    count_over(*call);
  }
  for (auto& call : take_streams()) {
    call->agent->remote_ended(reason);
    count_over(*call);
  }
  // Each agent winds down on its own (an answer cut short stores its turn as it stops).
  const auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (calls_pool_ && calls_pool_->calls() > 0 && SteadyClock::now() < deadline) {
    calls_pool_->wake();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Status Gateway::start() {
  calls_pool_ = std::make_unique<CallPool>(core_count());
  // The agents step after each tick; their recognisers take frames as they arrive.
  auto engine = MediaEngine::create(
      services_.settings.media,
      {.after_tick = [pool = calls_pool_.get()] { pool->wake(); }, .frames_on_arrival = true});
  if (!engine) return engine.error();
  media_engine_ = std::move(*engine);
  sip_ =
      std::make_unique<sip::SipEndpoint>(services_.settings.sip, services_.settings.media, *this);
  if (auto started = sip_->start(); !started) return started;
  if (auto started = start_audiosocket(); !started) return started;
  if (auto started = start_twilio(); !started) return started;
  start_browser();
  return {};
}

void Gateway::start_browser() {
  if (services_.settings.admin.listen == "off") return;
  browser_ = std::make_unique<BrowserPhone>(*this, [pool = calls_pool_.get()] { pool->wake(); },
                                            services_.settings.sip.max_calls);
  browser_->start();
}

Status Gateway::start_audiosocket() {
  const AudioSocketSettings& audiosocket = services_.settings.audiosocket;
  if (!audiosocket.enabled) return {};
  auto address = parse_listen_address(audiosocket.listen, "audiosocket.listen");
  if (!address) return address.error();
  if (!address->loopback) {
    spdlog::warn("audiosocket.listen {} is beyond loopback: AudioSocket has no authentication, "
                 "so only the PBX may reach this port (firewall it)",
                 audiosocket.listen);
  }
  audiosocket_ = std::make_unique<AudioSocketServer>(
      *this, [pool = calls_pool_.get()] { pool->wake(); });
  return audiosocket_->start(address->host, address->port, "audiosocket.listen");
}

Status Gateway::start_twilio() {
  const TwilioSettings& twilio = services_.settings.twilio;
  if (!twilio.enabled) return {};
  auto address = parse_listen_address(twilio.listen, "twilio.listen");
  if (!address) return address.error();
  if (twilio.public_url.rfind("https://", 0) != 0 && twilio.public_url.rfind("http://", 0) != 0) {
    return make_error("twilio.public_url: '" + twilio.public_url +
                      "' is not the https:// URL Twilio reaches this server by");
  }
  if (twilio.auth_token.empty()) {
    return make_error("twilio.auth_token: set CHALKBOT_TWILIO_AUTH_TOKEN (the account's auth "
                      "token): every request from Twilio is checked against it");
  }
  // Room for every call's stream and its webhook request at once, and a few spare.
  const int max_connections = 2 * services_.settings.sip.max_calls + 16;
  twilio_ = std::make_unique<TwilioServer>(
      TwilioEndpoints{twilio.public_url, twilio.auth_token, max_connections}, *this,
      [pool = calls_pool_.get()] { pool->wake(); });
  return twilio_->start(address->host, address->port, "twilio.listen");
}

int Gateway::sip_port() const { return sip_ ? sip_->port() : 0; }
int Gateway::audiosocket_port() const { return audiosocket_ ? audiosocket_->port() : 0; }
int Gateway::twilio_port() const { return twilio_ ? twilio_->port() : 0; }

std::size_t Gateway::active_calls() const {
  std::lock_guard lock(mutex_);
  return calls_.size() + streams_.size();
}

bool Gateway::stream_started(const StreamCallStart& start, std::shared_ptr<StreamedAudio> audio) {
  if (draining_) return false;
  auto call = std::make_shared<StreamCall>();
  call->start = start;
  call->started_ms = wall_ms();
  call->audio = audio;
  // No transfer over a stream: the machine hears at once that it failed and carries on.
  auto self = std::make_shared<std::weak_ptr<CallAgent>>();
  CallControl control{[audio] { audio->close(); },
                      [self, transport = start.transport](const std::string&) {
                        if (auto agent = self->lock()) {
                          agent->transfer_news(TransferNews::kFailed,
                                               "no transfer over " + transport);
                        }
                      }};
  if (start.show) {
    control.news = [show = start.show](CallNews news) { show(stream_news(std::move(news))); };
  }
  call->agent = std::make_shared<CallAgent>(services_, CallInfo{start.call_id, start.from, start.to},
                                            audio, std::move(control),
                                            [pool = calls_pool_.get()] { pool->wake(); });
  *self = call->agent;
  {
    std::lock_guard lock(mutex_);
    if (calls_.size() + streams_.size() >= static_cast<std::size_t>(services_.settings.sip.max_calls)) {
      spdlog::warn("{} call {} refused: sip.max_calls ({}) reached", start.transport,
                   start.call_id, services_.settings.sip.max_calls);
      return false;
    }
    if (streams_.count(start.call_id) != 0) {
      spdlog::warn("{} call {} refused: a call with this id is in progress", start.transport,
                   start.call_id);
      return false;
    }
    streams_[start.call_id] = call;
  }
  metrics().calls_started.inc();
  metrics().calls_active.add(1);
  spdlog::info("call {} from {} over {}", start.call_id, start.from, start.transport);
  calls_pool_->add(call->agent, [this, call] {
    metrics().call_ended(call->agent->end_reason()).inc();
    count_over(*call);
    call->finished = true;
    forget_stream(call->start.call_id);
  });
  return true;
}

void Gateway::stream_ended(const std::string& call_id, const std::string& reason) {
  std::lock_guard lock(mutex_);
  const auto it = streams_.find(call_id);
  if (it == streams_.end() || it->second->finished) return;
  StreamCall& call = *it->second;
  count_over(call);
  call.agent->remote_ended(call.hung_up_by_admin ? "admin_hangup" : reason);
}

namespace {

// The media engine's codec for an SDP one (sip::known_codec's names).
MediaCodec media_codec_of(const sip::Codec& codec) {
  if (codec.name == "G722") return MediaCodec::kG722;
  if (codec.name == "OPUS") return MediaCodec::kOpus;
  return MediaCodec::kG711;
}

}  // namespace

sip::Admission Gateway::on_invite(const sip::IncomingCall& invite) {
  auto session = media_engine_->open_session(media_ip_.empty() ? "127.0.0.1" : media_ip_,
                                             media_codec_of(invite.codec));
  if (!session) {
    spdlog::warn("call from {} refused: {}", invite.from_uri, session.error().message);
    return sip::Admission::reject(503, "No media ports");
  }
  auto call = std::make_shared<Call>();
  call->invite = invite;
  call->store_id = new_id();
  call->started_ms = wall_ms();
  call->media = std::move(*session);
  if (!invite.srtp.suite.empty()) {
    if (auto srtp = call->media->use_srtp(invite.srtp.suite, invite.srtp.send_key,
                                          invite.srtp.receive_key);
        !srtp) {
      spdlog::error("call from {} refused: SRTP: {}", invite.from_uri, srtp.error().message);
      return sip::Admission::reject(500, "SRTP unavailable");
    }
    call->invite.srtp = {};  // the media session holds the keys now
  }
  sip::LocalMedia local{"", call->media->local_port(), invite.codec,
                        invite.remote.telephone_event_for(invite.codec)};
  {
    std::lock_guard lock(mutex_);
    calls_[invite.id] = call;
  }
  metrics().calls_started.inc();
  metrics().calls_active.add(1);
  spdlog::info("call {} from {} (Call-ID {}), codec {}{}", invite.id, invite.from_uri,
               invite.call_id, invite.codec.name,
               invite.srtp.suite.empty() ? "" : ", SRTP " + invite.srtp.suite);
  const int delay_ms = services_.settings.sip.answer_delay_ms;
  if (delay_ms <= 0) return sip::Admission::accept(local);
  // Ring first: answered after the delay unless the caller gave up.
  calls_pool_->after(Millis(delay_ms), [this, call, local, id = invite.id] {
    if (call->ended_before_answer) return;
    if (draining_) {
      sip_->reject(id, 503, "Shutting down");
    } else {
      sip_->answer(id, local);
    }
  });
  return sip::Admission::defer();
}

void Gateway::on_established(sip::CallId id) {
  std::shared_ptr<Call> call;
  {
    std::lock_guard lock(mutex_);
    const auto it = calls_.find(id);
    if (it == calls_.end() || it->second->agent) return;
    call = it->second;
  }
  const sip::RemoteMedia& remote = call->invite.remote;
  const sip::TelephoneEvent event = remote.telephone_event_for(call->invite.codec);
  if (auto started = call->media->start(remote.ip, static_cast<std::uint16_t>(remote.port),
                                        call->invite.codec.payload_type, event.payload_type,
                                        event.clock_rate);
      !started) {
    spdlog::error("call {}: media: {}", id, started.error().message);
    sip_->hangup(id);
    return;
  }
  call->media->hold(remote.on_hold());
  CallInfo info{call->store_id, call->invite.from_uri, call->invite.to_uri};
  CallControl control{[this, id] { sip_->hangup(id); },
                      [this, id](const std::string& target) { sip_->transfer(id, target); }};
  auto agent = std::make_shared<CallAgent>(services_, info, call->media, std::move(control),
                                           [pool = calls_pool_.get()] { pool->wake(); });
  if (draining_) agent->drain();
  {
    std::lock_guard lock(mutex_);
    call->agent = agent;
  }
  calls_pool_->add(agent, [this, call, id] {
    count_ended(*call);
    forget_call(id);
  });
}

void Gateway::count_ended(Call& call) {
  ChalkbotMetrics& m = metrics();
  m.call_ended(call.agent->end_reason()).inc();
  const MediaStats stats = call.media->stats();
  m.rtp_packets_received.inc(stats.packets_in);
  m.rtp_packets_sent.inc(stats.packets_out);
  m.rtp_packets_lost.inc(stats.concealed_frames);
  m.rtp_packets_late.inc(stats.late_in);
  m.srtp_packets_rejected.inc(stats.srtp_rejected_in);
  m.rtp_jitter_buffer_seconds.observe(call.media->jitter_target_ms() / 1000.0);
  count_over(call);
  call.finished = true;
}

void Gateway::on_media_changed(sip::CallId id, const sip::RemoteMedia& remote) {
  std::lock_guard lock(mutex_);
  const auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& call = *it->second;
  for (const auto& c : remote.codecs) {
    if (c.name == call.invite.codec.name) call.invite.codec = c;  // its payload type may move
  }
  if (!remote.on_hold()) {
    const sip::TelephoneEvent event = remote.telephone_event_for(call.invite.codec);
    (void)call.media->set_remote(remote.ip, static_cast<std::uint16_t>(remote.port),
                                 call.invite.codec.payload_type, event.payload_type,
                                 event.clock_rate);
  }
  call.media->hold(remote.on_hold());
}

void Gateway::on_ended(sip::CallId id, const sip::CallEnd& end) {
  std::lock_guard lock(mutex_);
  const auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& call = *it->second;
  count_over(call);
  if (call.agent) {
    call.agent->remote_ended(call.hung_up_by_admin ? "admin_hangup" : sip::to_string(end.reason));
  } else {
    metrics().call_ended(call.hung_up_by_admin ? "admin_hangup" : sip::to_string(end.reason)).inc();
    // Ended before it was established (CANCEL): no agent ever ran.
    call.ended_before_answer = true;
    call.media->close();
    call.finished = true;
    calls_.erase(it);
    ended_.fetch_add(1, std::memory_order_relaxed);
  }
}

// As soon as a call is over, not at the next reap(): at thousands of calls a second a second's
// worth of ended calls, each holding its media session's rings and buffers, is most of the heap.
void Gateway::forget_call(sip::CallId id) {
  {
    std::lock_guard lock(mutex_);
    calls_.erase(id);
  }
  ended_.fetch_add(1, std::memory_order_relaxed);
}

void Gateway::forget_stream(const std::string& call_id) {
  {
    std::lock_guard lock(mutex_);
    streams_.erase(call_id);
  }
  ended_.fetch_add(1, std::memory_order_relaxed);
}

void Gateway::on_response_sent(int status) { metrics().sip_response(status).inc(); }
void Gateway::on_srtp_refused() { metrics().sip_srtp_refused.inc(); }

void Gateway::on_transfer(sip::CallId id, const sip::TransferProgress& progress) {
  std::lock_guard lock(mutex_);
  const auto it = calls_.find(id);
  if (it == calls_.end() || !it->second->agent) return;
  using Stage = sip::TransferProgress::Stage;
  const TransferNews news = progress.stage == Stage::kAccepted    ? TransferNews::kAccepted
                            : progress.stage == Stage::kSucceeded ? TransferNews::kSucceeded
                                                                  : TransferNews::kFailed;
  const std::string detail =
      progress.status > 0 ? std::to_string(progress.status) + " " + progress.phrase
                          : progress.phrase;
  it->second->agent->transfer_news(news, detail);
}

// The gauge falls when the caller's dialog ends (or the agent is done, whichever comes first), not
// when reap() gets to the call: a scrape right after a hang-up must not count it.
void Gateway::count_over(Call& call) {
  if (!call.counted_over.exchange(true)) metrics().calls_active.add(-1);
}
void Gateway::count_over(StreamCall& call) {
  if (!call.counted_over.exchange(true)) metrics().calls_active.add(-1);
}

std::vector<std::shared_ptr<Gateway::Call>> Gateway::take_calls() {
  std::vector<std::shared_ptr<Call>> taken;
  std::lock_guard lock(mutex_);
  for (auto& [id, call] : calls_) taken.push_back(call);
  calls_.clear();
  return taken;
}

std::vector<std::shared_ptr<Gateway::StreamCall>> Gateway::take_streams() {
  std::vector<std::shared_ptr<StreamCall>> taken;
  std::lock_guard lock(mutex_);
  for (auto& [id, call] : streams_) taken.push_back(call);
  streams_.clear();
  return taken;
}

std::size_t Gateway::reap() {
  if (media_engine_) media_engine_->release_retired();  // no INVITE came to do it
  return ended_.exchange(0, std::memory_order_relaxed);
}

std::vector<LiveCall> Gateway::live_calls() const {
  std::vector<LiveCall> live;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, call] : calls_) {
      if (call->finished) continue;
      live.push_back({call->store_id, call->invite.from_uri, call->invite.to_uri, call->started_ms,
                      call->agent ? "talking" : "ringing"});
    }
    for (const auto& [id, call] : streams_) {
      if (call->finished) continue;
      live.push_back({id, call->start.from, call->start.to, call->started_ms, "talking"});
    }
  }
  std::sort(live.begin(), live.end(),
            [](const LiveCall& a, const LiveCall& b) { return a.started_ms < b.started_ms; });
  return live;
}

bool Gateway::hang_up(const std::string& call_id) {
  std::lock_guard lock(mutex_);
  for (const auto& [id, call] : calls_) {
    if (call->store_id != call_id || call->finished) continue;
    call->hung_up_by_admin = true;
    sip_->hangup(id);  // BYE, or 480 while it rings
    return true;
  }
  if (const auto it = streams_.find(call_id); it != streams_.end() && !it->second->finished) {
    it->second->hung_up_by_admin = true;
    it->second->audio->close();  // the transport says goodbye, then tells the call
    return true;
  }
  return false;
}

void Gateway::drain(std::chrono::seconds grace) {
  if (!sip_) return;
  draining_ = true;
  sip_->stop_accepting();
  if (audiosocket_) audiosocket_->stop_accepting();
  if (twilio_) twilio_->stop_accepting();
  if (browser_) browser_->stop_accepting();
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, call] : calls_) {
      if (call->agent) call->agent->drain();
    }
    for (auto& [id, call] : streams_) call->agent->drain();
  }
  const auto deadline = SteadyClock::now() + grace;
  while (active_calls() > 0 && SteadyClock::now() < deadline) {
    reap();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Whoever is still talking gets BYE now.
  sip_->shutdown();
  end_all_calls("shutdown");
}

}  // namespace chalkbot
