// SipEndpoint: blind transfer. A REFER to the caller's phone, then the NOTIFYs that report its
// call to the new party (RFC 3515).
#include "sip/sip_endpoint_stack.h"

#include <charconv>
#include <string>

namespace chalkbot::sip {

void SipEndpoint::Stack::do_transfer(CallId id, const std::string& target) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  Call& call = *it->second;
  if (call.outgoing ||
      (call.state != Call::State::kAnswered && call.state != Call::State::kEstablished)) {
    handler_.on_transfer(id,
                         {TransferProgress::Stage::kFailed, 0, "call not in a state to transfer"});
    return;
  }
  // A REFER asked for again (the agent gave up waiting for the last one) starts a new
  // subscription; whichever outcome comes first is the call's.
  call.transferring = true;
  const std::string refer_to = "<" + target + ">";  // URI parameters stay the URI's
  nua_refer(call.nh, SIPTAG_REFER_TO_STR(refer_to.c_str()), TAG_END());
}

void SipEndpoint::Stack::refer_answered(Call& call, int status, const char* phrase) {
  if (!call.transferring || status < 200) return;
  if (status < 300) {
    handler_.on_transfer(call.id, {TransferProgress::Stage::kAccepted, status,
                                   phrase != nullptr ? phrase : ""});
    return;
  }
  transfer_over(call, TransferProgress::Stage::kFailed, status, phrase != nullptr ? phrase : "");
}

void SipEndpoint::Stack::refer_notified(Call& call, int status, const char* phrase,
                                        const sip_t* sip) {
  if (!call.transferring) return;
  if (sip == nullptr) {
    // The stack's own report that the subscription ended unanswered (408 and the like).
    if (status >= 300) {
      transfer_over(call, TransferProgress::Stage::kFailed, status,
                    phrase != nullptr ? phrase : "");
    }
    return;
  }
  if (status >= 300 || sip->sip_event == nullptr ||
      !su_casematch(sip->sip_event->o_type, "refer")) {
    return;  // refused by the stack (481: not our subscription) or about something else
  }
  // message/sipfrag: the status line of the transferee's call to the new party.
  const std::string frag = payload_of(sip);
  const std::string line = frag.substr(0, frag.find_first_of("\r\n"));
  int new_call_status = 0;
  if (line.rfind("SIP/2.0 ", 0) == 0 && line.size() >= 11) {
    std::from_chars(line.data() + 8, line.data() + 11, new_call_status);
  }
  if (new_call_status >= 200) {
    transfer_over(call, new_call_status < 300 ? TransferProgress::Stage::kSucceeded
                                              : TransferProgress::Stage::kFailed,
                  new_call_status, line.size() > 12 ? line.substr(12) : "");
  } else if (sip->sip_subscription_state != nullptr &&
             su_casematch(sip->sip_subscription_state->ss_substate, "terminated")) {
    transfer_over(call, TransferProgress::Stage::kFailed, 0,
                  "the phone ended the transfer's subscription without the new call's answer");
  }
  // Otherwise 100 Trying, 180 Ringing: still going.
}

void SipEndpoint::Stack::transfer_over(Call& call, TransferProgress::Stage stage, int status,
                                       std::string phrase) {
  call.transferring = false;
  handler_.on_transfer(call.id, {stage, status, std::move(phrase)});
}

}  // namespace chalkbot::sip
