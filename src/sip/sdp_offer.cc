#include "sip/sdp_offer.h"

#include "core/text.h"

namespace chalkbot::sip {

namespace {

// The problem may quote the offer (a profile, a line), and it goes out in a Warning header's
// quoted text: only printable ASCII of it, never a quote, CR, LF or NUL.
OfferVerdict refused(int warn_code, const std::string& problem, bool srtp = false) {
  OfferVerdict verdict;
  verdict.warn_code = warn_code;
  verdict.problem = printable_ascii(problem, 160);
  verdict.srtp_refused = srtp;
  return verdict;
}

std::string names_of(const std::vector<Codec>& codecs) {
  std::string names;
  for (const Codec& codec : codecs) names += (names.empty() ? "" : ",") + codec.name;
  return names;
}

}  // namespace

OfferVerdict judge_offer(std::string_view body, SrtpMode mode, const std::vector<Codec>& codecs,
                         const SrtpKeySalt& our_key) {
  if (body.empty()) return refused(399, "no SDP offer (late offer is not supported)");
  auto remote = parse_sdp(body);
  if (!remote) {
    return refused(remote.error().message == "no m=audio" ? 304 : 399,
                   "SDP: " + remote.error().message);
  }
  if (const MediaProblem problem = unusable_audio(*remote, mode != SrtpMode::kOff);
      problem.warn_code != 0) {
    return refused(problem.warn_code, problem.text);
  }
  SrtpAnswer srtp = answer_srtp(*remote, mode, our_key);
  if (srtp.warn_code != 0) return refused(srtp.warn_code, srtp.problem, true);
  auto codec = choose_codec(*remote, codecs);
  if (!codec) return refused(305, "no common codec (we take " + names_of(codecs) + ")");
  OfferVerdict verdict;
  verdict.remote = std::move(*remote);
  verdict.srtp = std::move(srtp);
  verdict.codec = *codec;
  return verdict;
}

}  // namespace chalkbot::sip
