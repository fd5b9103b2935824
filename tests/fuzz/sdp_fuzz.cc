// The SDP we own: parsing an offer or answer, its SDES keys (a=crypto) under each media.srtp
// mode, choosing a codec, and answering it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sip/sdes.h"
#include "sip/sdp.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace chalkbot::sip;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto remote = parse_sdp(text);
  if (!remote) return 0;
  (void)remote->on_hold();
  for (const auto mode : {SrtpMode::kOff, SrtpMode::kOptional, SrtpMode::kRequired}) {
    const SrtpKeySalt key{1, 2, 3};
    const SrtpAnswer srtp = answer_srtp(*remote, mode, key);
    if (!srtp.use_srtp) continue;
    // The attribute we would answer with parses back as the same key, suite and tag.
    auto back = parse_crypto(format_crypto(srtp.local));
    if (!back || back->key_salt != key || back->suite != srtp.local.suite ||
        back->tag != srtp.local.tag) {
      __builtin_trap();
    }
  }
  static const auto preferences = parse_codec_list("G722,opus,PCMU,PCMA");
  auto codec = choose_codec(*remote, *preferences);
  if (!codec) return 0;
  LocalSdp local;
  local.address = "127.0.0.1";
  local.port = 40000;
  local.codecs = {*codec};
  const TelephoneEvent event = remote->telephone_event_for(*codec);
  local.telephone_event_pt = event.payload_type;
  local.telephone_event_rate = event.clock_rate;
  local.direction = mirror(remote->direction);
  // Our answer must parse back as the same choice.
  auto back = parse_sdp(build_sdp(local));
  if (!back || back->codecs.empty() || back->codecs[0].name != codec->name) __builtin_trap();
  return 0;
}
