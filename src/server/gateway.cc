#include "server/gateway.h"

#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"

namespace chalkbot {

Gateway::Gateway(const CallServices& services) : services_(services) {
  const SipSettings& sip = services.settings.sip;
  media_ip_ = sip.bind_address;
  if (media_ip_.empty() || media_ip_ == "0.0.0.0" || media_ip_ == "::") {
    media_ip_ = sip.public_address;
  }
}

Gateway::~Gateway() {
  if (sip_) sip_->shutdown();
  std::map<sip::CallId, std::shared_ptr<Call>> calls;
  {
    std::lock_guard lock(mutex_);
    calls.swap(calls_);
  }
  for (auto& [id, call] : calls) {
    if (call->agent) call->agent->remote_ended("shutdown");
    if (call->thread.joinable()) call->thread.join();
  }
}

Status Gateway::start() {
  auto engine = MediaEngine::create(services_.settings.media);
  if (!engine) return engine.error();
  media_engine_ = std::move(*engine);
  sip_ =
      std::make_unique<sip::SipEndpoint>(services_.settings.sip, services_.settings.media, *this);
  return sip_->start();
}

int Gateway::sip_port() const { return sip_ ? sip_->port() : 0; }

std::size_t Gateway::active_calls() const {
  std::lock_guard lock(mutex_);
  return calls_.size();
}

sip::Admission Gateway::on_invite(const sip::IncomingCall& invite) {
  auto session = media_engine_->open_session(media_ip_.empty() ? "127.0.0.1" : media_ip_);
  if (!session) {
    spdlog::warn("call from {} refused: {}", invite.from_uri, session.error().message);
    return sip::Admission::reject(503, "No media ports");
  }
  auto call = std::make_shared<Call>();
  call->invite = invite;
  call->media = std::move(*session);
  sip::LocalMedia local{"", call->media->local_port(), invite.codec,
                        invite.remote.telephone_event_pt};
  {
    std::lock_guard lock(mutex_);
    calls_[invite.id] = call;
  }
  spdlog::info("call {} from {} (Call-ID {}), codec {}", invite.id, invite.from_uri, invite.call_id,
               invite.codec.name);
  const int delay_ms = services_.settings.sip.answer_delay_ms;
  if (delay_ms <= 0) return sip::Admission::accept(local);
  // Ring first: a short-lived thread answers after the delay unless the caller gave up.
  call->thread = std::thread([this, call, local, delay_ms, id = invite.id] {
    const auto answer_at = SteadyClock::now() + Millis(delay_ms);
    while (SteadyClock::now() < answer_at && !call->ended_before_answer) {
      std::this_thread::sleep_for(Millis(10));
    }
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
  if (call->thread.joinable()) call->thread.join();  // the ringing delay, already over
  const sip::RemoteMedia& remote = call->invite.remote;
  if (auto started = call->media->start(remote.ip, static_cast<std::uint16_t>(remote.port),
                                        call->invite.codec.payload_type, remote.telephone_event_pt);
      !started) {
    spdlog::error("call {}: media: {}", id, started.error().message);
    sip_->hangup(id);
    return;
  }
  call->media->hold(remote.on_hold());
  CallInfo info{new_id(), call->invite.from_uri, call->invite.to_uri};
  auto agent =
      std::make_unique<CallAgent>(services_, info, call->media, [this, id] { sip_->hangup(id); });
  if (draining_) agent->drain();
  {
    std::lock_guard lock(mutex_);
    call->agent = std::move(agent);
  }
  // One thread per call runs its conversation; the heavy lifting (ASR, LLM, TTS) blocks there.
  call->thread = std::thread([call] {
    call->agent->run();
    call->finished = true;
  });
}

void Gateway::on_media_changed(sip::CallId id, const sip::RemoteMedia& remote) {
  std::lock_guard lock(mutex_);
  const auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& call = *it->second;
  if (!remote.on_hold()) {
    (void)call.media->set_remote(remote.ip, static_cast<std::uint16_t>(remote.port),
                                 call.invite.codec.payload_type, remote.telephone_event_pt);
  }
  call.media->hold(remote.on_hold());
}

void Gateway::on_ended(sip::CallId id, const sip::CallEnd& end) {
  std::lock_guard lock(mutex_);
  const auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& call = *it->second;
  if (call.agent) {
    call.agent->remote_ended(sip::to_string(end.reason));
  } else {
    // Ended before it was established (CANCEL): no agent ever ran.
    call.ended_before_answer = true;
    call.media->close();
    call.finished = true;  // reap() joins the ringing thread, if any
  }
}

void Gateway::reap() {
  std::vector<std::shared_ptr<Call>> done;
  {
    std::lock_guard lock(mutex_);
    for (auto it = calls_.begin(); it != calls_.end();) {
      if (it->second->finished) {
        done.push_back(it->second);
        it = calls_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& call : done) {
    if (call->thread.joinable()) call->thread.join();
  }
}

void Gateway::drain(std::chrono::seconds grace) {
  if (!sip_) return;
  draining_ = true;
  sip_->stop_accepting();
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, call] : calls_) {
      if (call->agent) call->agent->drain();
    }
  }
  const auto deadline = SteadyClock::now() + grace;
  while (active_calls() > 0 && SteadyClock::now() < deadline) {
    reap();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Whoever is still talking gets BYE now.
  sip_->shutdown();
  std::vector<std::shared_ptr<Call>> rest;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, call] : calls_) rest.push_back(call);
    calls_.clear();
  }
  for (auto& call : rest) {
    if (call->agent) call->agent->remote_ended("shutdown");
    if (call->thread.joinable()) call->thread.join();
  }
}

}  // namespace chalkbot
