// SipEndpoint: the dialogs. Incoming INVITEs checked and offered to the handler, answers and
// refusals, re-offers (hold, new address), the call's end; outgoing calls placed and answered.
#include "sip/sip_endpoint_stack.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <tuple>

#include "core/text.h"
#include "sip/invite_check.h"
#include "sip/sdp_offer.h"

namespace chalkbot::sip {

std::string SipEndpoint::Stack::advertised(const std::string& ip) const {
  if (!ip.empty()) return ip;
  return sip_.public_address.empty() ? sip_.bind_address : sip_.public_address;
}

std::string SipEndpoint::Stack::sdp_for(Call& call) {
  return build_sdp(call.local, sip_.user_agent);
}

void SipEndpoint::Stack::respond_sdp(nua_handle_t* nh, int status, const char* phrase,
                                     const std::string& sdp, bool in_callback,
                                     const std::string& contact) {
  respond(nh, status, phrase, SIPTAG_CONTENT_TYPE_STR("application/sdp"),
              SIPTAG_PAYLOAD_STR(sdp.c_str()),
              TAG_IF(!contact.empty(), SIPTAG_CONTACT_STR(contact.c_str())),
              TAG_IF(in_callback, NUTAG_WITH_THIS(nua_)), TAG_END());
}

std::string SipEndpoint::Stack::tls_contact(const sip_t* sip) const {
  if (tls_port_ == 0 || sip == nullptr || sip->sip_via == nullptr ||
      sip->sip_via->v_protocol == nullptr ||
      !su_casematch(sip->sip_via->v_protocol, "SIP/2.0/TLS") ||
      sip->sip_request == nullptr || sip->sip_request->rq_url->url_type == url_sips) {
    return {};
  }
  return "<sip:chalkbot@" + url_host(advertised("")) + ":" + std::to_string(tls_port_) +
         ";transport=tls>";
}

void SipEndpoint::Stack::incoming_invite(int, nua_handle_t* nh, const sip_t* sip) {
  auto refuse_invite = [&](int code) {
    refuse(nh, code, false);
    nua_handle_destroy(nh);
  };
  if (sip == nullptr || sip->sip_from == nullptr || sip->sip_to == nullptr ||
      sip->sip_call_id == nullptr) {
    refuse_invite(400);
    return;
  }
  IncomingCall ic;
  ic.call_id = sip->sip_call_id->i_id != nullptr ? sip->sip_call_id->i_id : "";
  ic.from_uri = url_text(home_, sip->sip_from->a_url);
  ic.to_uri = url_text(home_, sip->sip_to->a_url);
  std::tie(ic.source_ip, ic.source_port) = request_source();
  // A request we cannot take, answered with our own reason phrase and logged with it, so the
  // operator sees why a caller failed.
  auto reject_invite = [&](int code, const std::string& phrase, const std::string& detail,
                           auto... tags) {
    spdlog::info("sip: {} {} ({}) for INVITE from {} (Call-ID {})", code, phrase, detail,
                 ic.source_ip, ic.call_id);
    respond(nh, code, lasting(phrase), tags..., TAG_END());
    nua_handle_destroy(nh);
  };
  if (const int status = screen_out_of_dialog(sip, ic.source_ip); status != 0) {
    refuse_invite(status);
    return;
  }
  if (!networks_.contains(ic.source_ip) || !callers_.admits(ic.from_uri)) {
    spdlog::info("sip: 403 for {} from {}", ic.from_uri, ic.source_ip);
    refuse_invite(403);
    return;
  }
  // Before any dialog exists: the URIs it would send to, and a body we can read.
  if (const Refusal refusal = check_invite(sip, dialog_transports_)) {
    reject_invite(refusal.status, refusal.reason, refusal.detail,
                  TAG_IF(refusal.accept_sdp, SIPTAG_ACCEPT_STR("application/sdp")));
    return;
  }
  if (auth_.enabled() && !authenticated(nh, sip)) {
    nua_handle_destroy(nh);
    return;
  }
  if (!accepting_ || active_incoming_.load() >= static_cast<std::size_t>(sip_.max_calls)) {
    refuse_invite(503);
    return;
  }
  const std::string body = payload_of(sip);
  if (body.size() > kMaxSdpBytes) {
    refuse_invite(413);
    return;
  }
  // 488 with a Warning (RFC 3261 20.43) that says what is wrong with the offer.
  auto not_acceptable = [&](int warn_code, const std::string& text) {
    const std::string warning =
        std::to_string(warn_code) + " " + url_host(advertised("")) + " \"" + text + "\"";
    reject_invite(488, "Not Acceptable Here", text, SIPTAG_WARNING_STR(warning.c_str()));
  };
  // SDES-SRTP (media.srtp): our key comes from the kernel's CSPRNG, one per call.
  SrtpKeySalt our_key{};
  if (srtp_mode_ != SrtpMode::kOff) {
    auto fresh = random_key_salt();
    if (!fresh) {
      spdlog::error("sip: no SRTP key: {}", fresh.error().message);
      refuse_invite(500);
      return;
    }
    our_key = *fresh;
  }
  OfferVerdict offer = judge_offer(body, srtp_mode_, codecs_, our_key);
  if (!offer.taken()) {
    if (offer.srtp_refused) handler_.on_srtp_refused();
    not_acceptable(offer.warn_code, offer.problem);
    return;
  }
  const SrtpAnswer& srtp = offer.srtp;
  auto owned = std::make_unique<Call>();
  Call& call = *owned;
  call.id = next_id();
  call.nh = nh;
  call.codec = offer.codec;
  call.local.session_id = static_cast<std::uint64_t>(
      std::chrono::system_clock::now().time_since_epoch().count()) & 0xffffffffffffULL;
  call.local.version = 1;
  if (srtp.use_srtp) {
    call.srtp = true;
    call.srtp_local = srtp.local;
    call.srtp_remote = srtp.remote;
    call.local.profile = offer.remote.profile;  // RTP/SAVP, or RTP/AVP for "best effort" SRTP
    call.local.crypto = format_crypto(srtp.local);
    ic.srtp.suite = to_string(srtp.local.suite);
    ic.srtp.send_key = srtp.local.key_salt;
    ic.srtp.receive_key = srtp.remote.key_salt;
  }
  call.contact = tls_contact(sip);
  if (!call.contact.empty()) {
    // Our requests in this dialog (BYE, REFER, the stack's own BYE) go back over the caller's
    // TLS connection, not to a new one towards its Contact: phones seldom accept TLS connections
    // (baresip has no certificate to), and behind NAT they could not be reached anyway.
    const std::string flow = "sip:" + url_host(ic.source_ip) + ":" +
                             std::to_string(ic.source_port) + ";transport=tls";
    nua_set_hparams(nh, NUTAG_PROXY(flow.c_str()), TAG_END());
  }
  ic.id = call.id;
  ic.remote = offer.remote;
  ic.codec = offer.codec;
  calls_.emplace(call.id, std::move(owned));
  active_incoming_.fetch_add(1);
  nua_handle_bind(nh, &call);

  const Admission admission = handler_.on_invite(ic);
  switch (admission.kind) {
    case Admission::Kind::kAccept:
      call.local.direction = mirror(offer.remote.direction);
      do_answer(call.id, admission.media);
      return;
    case Admission::Kind::kDefer:
      call.local.direction = mirror(offer.remote.direction);
      call.state = Call::State::kDeferred;
      respond(nh, SIP_180_RINGING,
              TAG_IF(!call.contact.empty(), SIPTAG_CONTACT_STR(call.contact.c_str())), TAG_END());
      return;
    case Admission::Kind::kReject: {
      const int code = admission.status >= 300 && admission.status < 700 ? admission.status : 480;
      const std::string phrase = admission.reason.empty() ? sip_status_phrase(code)
                                                          : admission.reason;
      respond(nh, code, lasting(phrase), TAG_END());
      // The handler said no: it needs no on_ended.
      nua_handle_bind(nh, nullptr);
      nua_handle_destroy(nh);
      calls_.erase(call.id);
      active_incoming_.fetch_sub(1);
      return;
    }
  }
}

void SipEndpoint::Stack::do_answer(CallId id, const LocalMedia& media) {
  auto it = calls_.find(id);
  if (it == calls_.end() || it->second->outgoing || it->second->state != Call::State::kDeferred) {
    return;
  }
  Call& call = *it->second;
  call.codec = media.codec.payload_type >= 0 ? media.codec : call.codec;
  call.local.address = advertised(media.ip);
  call.local.port = media.rtp_port;
  call.local.codecs = {call.codec};
  call.local.telephone_event_pt = media.telephone_event.payload_type;
  call.local.telephone_event_rate = media.telephone_event.clock_rate;
  call.state = Call::State::kAnswered;
  respond_sdp(call.nh, SIP_200_OK, sdp_for(call), false, call.contact);
}

void SipEndpoint::Stack::do_reject(CallId id, int status, const std::string& reason) {
  auto it = calls_.find(id);
  if (it == calls_.end() || it->second->outgoing || it->second->state != Call::State::kDeferred) {
    return;
  }
  Call& call = *it->second;
  const int code = status >= 300 && status < 700 ? status : 480;
  const std::string phrase = reason.empty() ? sip_status_phrase(code) : reason;
  respond(call.nh, code, lasting(phrase), TAG_END());
  set_reason(call, EndReason::kLocalHangup, code, phrase.c_str());
  finish(call);
}

void SipEndpoint::Stack::reoffer(Call& call, nua_handle_t* nh, const sip_t* sip, bool is_update) {
  if (const Refusal refusal = check_target_refresh(sip, dialog_transports_)) {
    spdlog::warn("sip: call {}: {} {} ({}) for a {}", call.id, refusal.status, refusal.reason,
                 refusal.detail, is_update ? "UPDATE" : "re-INVITE");
    respond(nh, refusal.status, lasting(refusal.reason), NUTAG_WITH_THIS(nua_), TAG_END());
    return;
  }
  const std::string body = payload_of(sip);
  if (body.size() > kMaxSdpBytes) {
    nua_respond(nh, SIP_488_NOT_ACCEPTABLE, NUTAG_WITH_THIS(nua_), TAG_END());
    return;
  }
  if (body.empty()) {
    // A refresh without an offer. re-INVITE: we must offer (our current description).
    if (is_update) {
      respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua_), TAG_END());
    } else {
      respond_sdp(nh, SIP_200_OK, sdp_for(call), true, call.contact);
    }
    return;
  }
  auto remote = parse_sdp(body);
  if (!remote) {
    respond(nh, SIP_488_NOT_ACCEPTABLE, NUTAG_WITH_THIS(nua_), TAG_END());
    return;
  }
  if (const std::string problem = srtp_reoffer_problem(call, *remote); !problem.empty()) {
    spdlog::warn("sip: call {}: 488 ({}) for a {}", call.id, problem,
                 is_update ? "UPDATE" : "re-INVITE");
    // The problem may quote the offer's profile: only printable ASCII of it goes in the quotes.
    const std::string warning =
        "306 " + url_host(advertised("")) + " \"" + printable_ascii(problem, 160) + "\"";
    respond(nh, SIP_488_NOT_ACCEPTABLE, SIPTAG_WARNING_STR(warning.c_str()),
            NUTAG_WITH_THIS(nua_), TAG_END());
    return;
  }
  // The codec stays: the media engine keeps running; a re-offer without it is refused.
  const bool keeps_codec = std::any_of(remote->codecs.begin(), remote->codecs.end(),
                                       [&](const Codec& c) { return c.name == call.codec.name; });
  if (!keeps_codec) {
    respond(nh, SIP_488_NOT_ACCEPTABLE, NUTAG_WITH_THIS(nua_), TAG_END());
    return;
  }
  for (const auto& c : remote->codecs) {
    if (c.name == call.codec.name) call.codec = c;  // its payload type may move
  }
  call.local.codecs = {call.codec};
  call.local.direction = mirror(remote->direction);
  const TelephoneEvent event = remote->telephone_event_for(call.codec);
  if (event.payload_type < 0) call.local.telephone_event_pt = -1;
  else if (call.local.telephone_event_pt >= 0) {
    call.local.telephone_event_pt = event.payload_type;
    call.local.telephone_event_rate = event.clock_rate;
  }
  call.local.version += 1;
  respond_sdp(nh, SIP_200_OK, sdp_for(call), true, call.contact);
  // The application runs the telephone-event type we answered (none if we did not), not the
  // ones offered.
  RemoteMedia answered = *remote;
  answered.telephone_events.clear();
  if (call.local.telephone_event_pt >= 0) {
    answered.telephone_events.push_back(
        {call.local.telephone_event_pt, call.local.telephone_event_rate});
  }
  if (call.outgoing) {
    if (call.out) call.out->on_media_changed(call.id, answered);
  } else {
    handler_.on_media_changed(call.id, answered);
  }
}

std::string SipEndpoint::Stack::srtp_reoffer_problem(Call& call, const RemoteMedia& remote) {
  if (!call.srtp) {
    const MediaProblem problem = unusable_audio(remote);  // a plain call stays plain
    return problem.warn_code == 302 ? problem.text : std::string();
  }
  // The media session keeps the keys it started with: the offer must still carry the caller's.
  const SrtpAnswer again = answer_srtp(remote, SrtpMode::kRequired, call.srtp_local.key_salt);
  if (!again.use_srtp || again.remote.suite != call.srtp_remote.suite ||
      again.remote.key_salt != call.srtp_remote.key_salt) {
    return "SRTP keys cannot change during a call";
  }
  call.srtp_local.tag = again.local.tag;  // the answer repeats the tag of the line it took
  call.local.crypto = format_crypto(call.srtp_local);
  return {};
}

void SipEndpoint::Stack::call_state(Call& call, int status, const char* phrase, tagi_t tags[]) {
  int state = nua_callstate_init;
  tl_gets(tags, NUTAG_CALLSTATE_REF(state), TAG_END());
  if (state == nua_callstate_ready) {
    if (!call.outgoing) call.state = Call::State::kEstablished;
    if (!call.established_reported && !call.outgoing) {
      call.established_reported = true;
      handler_.on_established(call.id);
    }
  } else if (state == nua_callstate_terminated) {
    if (!call.have_reason) {
      set_reason(call, status >= 300 ? EndReason::kTransportError : EndReason::kRemoteBye, status,
                 phrase);
    }
    finish(call);
  }
}

void SipEndpoint::Stack::set_reason(Call& call, EndReason reason, int status, const char* phrase) {
  if (call.have_reason) return;  // the first cause wins
  call.have_reason = true;
  call.end.reason = reason;
  call.end.status = status;
  call.end.phrase = phrase != nullptr ? phrase : "";
}

void SipEndpoint::Stack::finish(Call& call) {
  const CallId id = call.id;
  const CallEnd end = call.end;
  auto out = call.out;
  const bool outgoing = call.outgoing;
  const bool answered = call.answered;
  nua_handle_bind(call.nh, nullptr);
  nua_handle_destroy(call.nh);
  calls_.erase(id);  // `call` is gone from here on
  if (outgoing) {
    if (out && answered) out->on_ended(id, end);
    else if (out) out->on_failed(id, end.status >= 300 ? end.status : 500, end.phrase);
  } else {
    active_incoming_.fetch_sub(1);
    handler_.on_ended(id, end);
  }
  maybe_stop_stack();
}

void SipEndpoint::Stack::do_hangup(CallId id, EndReason reason) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& call = *it->second;
  switch (call.state) {
    case Call::State::kEnding:
      return;
    case Call::State::kDeferred:
      respond(call.nh, SIP_480_TEMPORARILY_UNAVAILABLE, TAG_END());
      set_reason(call, reason, 480, "Temporarily Unavailable");
      finish(call);
      return;
    case Call::State::kCalling:
      call.state = Call::State::kEnding;
      set_reason(call, reason, 487, "Request Terminated");
      nua_cancel(call.nh, TAG_END());
      return;
    case Call::State::kAnswered:
    case Call::State::kEstablished:
      set_reason(call, reason, 0, "");
      send_bye(call);
      return;
  }
}

void SipEndpoint::Stack::send_bye(Call& call) {
  if (call.local_bye) return;  // one BYE per call: the stack retries nothing for us
  call.local_bye = true;
  call.state = Call::State::kEnding;
  nua_bye(call.nh, TAG_END());
}

void SipEndpoint::Stack::do_place_call(CallId id, const std::string& target,
                                       const OfferMedia& media,
                                       std::shared_ptr<OutgoingCallHandler> handler) {
  if (!accepting_) {
    if (handler) handler->on_failed(id, 503, "Shutting down");
    return;
  }
  auto owned = std::make_unique<Call>();
  Call& call = *owned;
  call.id = id;
  call.outgoing = true;
  call.state = Call::State::kCalling;
  call.out = std::move(handler);
  call.offered = media.codecs.empty() ? codecs_ : media.codecs;
  call.local.address = advertised(media.ip);
  call.local.port = media.rtp_port;
  call.local.codecs = call.offered;
  call.local.telephone_event_pt = media.telephone_event_pt;
  call.local.session_id = static_cast<std::uint64_t>(
      std::chrono::system_clock::now().time_since_epoch().count()) & 0xffffffffffffULL;
  call.local.version = 1;
  if (media.srtp != SrtpMode::kOff) {
    // SDES-SRTP offered as the answering side takes it (answer_srtp): RTP/SAVP when required, so
    // that a far end without SRTP refuses rather than answers plain RTP; "best effort" a=crypto on
    // RTP/AVP when optional. One key per call from the kernel's CSPRNG, never logged.
    auto key = random_key_salt();
    if (!key) {
      spdlog::error("sip: no SRTP key: {}", key.error().message);
      if (call.out) call.out->on_failed(id, 500, "No SRTP key");
      return;
    }
    call.srtp_local = CryptoAttribute{};
    call.srtp_local.key_salt = *key;
    call.local.crypto = format_crypto(call.srtp_local);
    call.local.profile = media.srtp == SrtpMode::kRequired ? "RTP/SAVP" : "RTP/AVP";
  }
  call.nh = nua_handle(nua_, &call, SIPTAG_TO_STR(target.c_str()), TAG_END());
  if (call.nh == nullptr) {
    if (call.out) call.out->on_failed(id, 400, "Bad target URI");
    return;
  }
  const std::string sdp = sdp_for(call);
  calls_.emplace(id, std::move(owned));
  nua_invite(call.nh, SIPTAG_CONTENT_TYPE_STR("application/sdp"), SIPTAG_PAYLOAD_STR(sdp.c_str()),
             TAG_END());
}

void SipEndpoint::Stack::outgoing_invite_result(Call& call, int status, const char* phrase,
                                                const sip_t* sip) {
  if (status < 200) {
    if (status >= 180 && call.out && !call.answered) call.out->on_ringing(call.id);
    return;
  }
  if (status >= 300) {
    set_reason(call, EndReason::kTransportError, status, phrase);
    return;  // nua_i_state terminated follows and reports on_failed
  }
  // A re-INVITE of ours (none yet), a retransmitted 2xx, or one we already hung up on.
  if (call.answered || call.local_bye) return;
  if (const Refusal refusal = check_target_refresh(sip, dialog_transports_)) {
    // A far end we could never send the BYE (or even the ACK) to: give up on the call now.
    spdlog::warn("sip: call {}: answered with an unusable Contact: {} ({})", call.id,
                 refusal.reason, refusal.detail);
    set_reason(call, EndReason::kTransportError, 502, "Bad Gateway");
    send_bye(call);
    return;
  }
  auto remote = parse_sdp(payload_of(sip));
  Result<Codec> codec = remote ? choose_codec(*remote, call.offered) : Result<Codec>(remote.error());
  const bool offered_srtp = !call.local.crypto.empty();
  if (const MediaProblem problem = codec ? unusable_audio(*remote, offered_srtp) : MediaProblem{};
      problem.warn_code != 0) {
    codec = make_error(problem.text);  // the far end refused our stream (port 0) or the profile
  }
  SrtpKeys keys;
  if (codec && offered_srtp) {
    if (auto theirs = answered_crypto(*remote, call.srtp_local)) {
      call.srtp = true;
      call.srtp_remote = *theirs;
      keys = {to_string(theirs->suite), call.srtp_local.key_salt, theirs->key_salt};
    } else if (call.local.profile == "RTP/SAVP" || ascii_upper(remote->profile) == "RTP/SAVP") {
      codec = make_error("no usable a=crypto in the answer");  // required, or SAVP without keys
    }
  }
  if (!codec) {
    // Answered with nothing we can play: hang up; the caller sees a 488 failure.
    call.answered = false;
    set_reason(call, EndReason::kLocalHangup, 488, "Not Acceptable Here");
    send_bye(call);
    return;
  }
  call.answered = true;
  call.codec = *codec;
  if (call.state == Call::State::kEnding) {
    // hangup() raced the answer: the CANCEL lost, so BYE.
    call.have_reason = false;
    set_reason(call, EndReason::kLocalHangup, 0, "");
    if (call.out) call.out->on_answered(call.id, *remote, *codec, keys);
    send_bye(call);
    return;
  }
  call.state = Call::State::kEstablished;
  if (call.out) call.out->on_answered(call.id, *remote, *codec, keys);
}

}  // namespace chalkbot::sip
