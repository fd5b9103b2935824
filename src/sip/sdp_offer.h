#pragma once
// An INVITE's SDP offer judged as the answering side: refused (488 with a Warning, RFC 3261 20.43)
// or the media we answer with. The SIP endpoint and the fuzz target both call this, so that they
// take the same steps in the same order. A pure function, any thread.
#include <string>
#include <string_view>
#include <vector>

#include "sip/sdes.h"
#include "sip/sdp.h"

namespace chalkbot::sip {

struct OfferVerdict {
  // Not 0: the offer is refused, 488 with a Warning of this warn-code and text.
  int warn_code = 0;
  std::string problem;
  bool srtp_refused = false;  // the refusal is SRTP's (counted apart from the rest)
  // When taken:
  RemoteMedia remote;
  SrtpAnswer srtp;  // srtp.use_srtp: answer with SDES-SRTP
  Codec codec;
  bool taken() const { return warn_code == 0; }
};

// In this order: an offer at all (no late offer), an SDP we can read with an m=audio (304), audio
// we can run under `mode` (unusable_audio), SDES-SRTP as `mode` says (answer_srtp, answered with
// `our_key`, a fresh one per call), then the first of `codecs` the offer has (305).
OfferVerdict judge_offer(std::string_view body, SrtpMode mode, const std::vector<Codec>& codecs,
                         const SrtpKeySalt& our_key);

}  // namespace chalkbot::sip
