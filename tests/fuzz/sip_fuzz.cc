// The path a datagram takes through the SIP layer: sofia-sip's own message parser (as nta parses
// what arrives on a socket), then, for an INVITE, our checks in the order
// SipEndpoint::Stack::incoming_invite (sip_endpoint_dialogs.cc) runs them before any dialog
// exists: check_invite (Request-URI, Contact, Record-Route, Content-Type, Accept), then the SDP
// offer (judge_offer, the endpoint's own function, under each media.srtp mode). A re-INVITE's
// or UPDATE's Contact goes through check_target_refresh. Every URI-bearing header the dialog uses
// also goes through check_dialog_uri, whichever method carried it.
//
// sofia-sip is the system library, not built with coverage: libFuzzer steers by our code's
// branches only, but ASan still sees what sofia hands us (its strings, lists and lengths).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>

#include "sip/invite_check.h"
#include "sip/sdp_offer.h"

namespace {

using namespace chalkbot::sip;

// What SipEndpoint answers before building a dialog: the SDP offer of an INVITE, judged under
// each media.srtp mode.
void check_offer(const sip_t* sip) {
  if (sip->sip_payload == nullptr || sip->sip_payload->pl_data == nullptr) return;
  const std::string body(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
  if (body.size() > 16 * 1024) return;  // kMaxSdpBytes: answered 413 unread
  static const auto preferences = parse_codec_list("G722,opus,PCMU,PCMA");  // every codec we run
  for (const auto mode : {SrtpMode::kOff, SrtpMode::kOptional, SrtpMode::kRequired}) {
    const OfferVerdict offer = judge_offer(body, mode, *preferences, SrtpKeySalt{7, 8, 9});
    // A refusal goes out as a Warning header: a three-digit code and quoted text that cannot
    // end the quotes or the header.
    if (!offer.taken() && (offer.warn_code < 300 || offer.warn_code > 399)) __builtin_trap();
    for (const char c : offer.problem) {
      if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') __builtin_trap();
    }
  }
}

// Each Refusal must be one we can send: a final error status with a reason phrase.
void expect_sendable(const Refusal& refusal) {
  if (!refusal) return;
  if (refusal.status < 400 || refusal.status > 699 || refusal.reason.empty()) __builtin_trap();
  for (const char c : refusal.reason) {
    if (c == '\r' || c == '\n' || c == '\0') __builtin_trap();  // would break the status line
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A datagram is one whole message: what msg_make parses is what nta would take from UDP.
  msg_t* msg = msg_make(sip_default_mclass(), 0, data, static_cast<ssize_t>(size));
  if (msg == nullptr) return 0;
  const sip_t* sip = sip_object(msg);
  if (sip != nullptr && sip->sip_request != nullptr) {
    const std::string_view transports = "udp,tcp";
    for (const sip_contact_t* m = sip->sip_contact; m != nullptr; m = m->m_next) {
      expect_sendable(check_dialog_uri(m->m_url, "Contact", transports, true));
    }
    for (const sip_record_route_t* rr = sip->sip_record_route; rr != nullptr; rr = rr->r_next) {
      expect_sendable(check_dialog_uri(rr->r_url, "Record-Route", transports));
    }
    const sip_method_t method = sip->sip_request->rq_method;
    // nua hands a request to the endpoint only with these present (sofia answers 400 otherwise).
    const bool dialog_ready = sip->sip_from != nullptr && sip->sip_to != nullptr &&
                              sip->sip_call_id != nullptr && sip->sip_cseq != nullptr;
    if (dialog_ready && method == sip_method_invite) {
      const Refusal refusal = check_invite(sip, transports);
      expect_sendable(refusal);
      expect_sendable(check_target_refresh(sip, transports));
      if (!refusal) check_offer(sip);
    } else if (dialog_ready && method == sip_method_update) {
      expect_sendable(check_target_refresh(sip, transports));
    }
  }
  msg_destroy(msg);
  return 0;
}
