// The browser phone's messages from the page (transport/browser_protocol.h): the first byte says
// whether the rest is a text (control) or a binary (audio) message. Neither may crash, and what
// they accept must be what the protocol allows.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "transport/browser_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace chalkbot;
  if (size == 0) return 0;
  const std::string_view message(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    const auto control = browser::parse_control(message);
    if (control && control->kind == browser::Control::Kind::kStart &&
        (control->rate < browser::kMinUpRate || control->rate > browser::kMaxUpRate)) {
      __builtin_trap();
    }
    return 0;
  }
  std::vector<Sample> samples;
  if (browser::decode_audio(message, samples)) {
    if (samples.size() * 2 != message.size() || message.size() > browser::kMaxAudioBytes) {
      __builtin_trap();
    }
    if (browser::encode_audio(samples) != message) __builtin_trap();
  }
  StreamNews news{StreamNews::Kind::kTurn, std::string(message), true, 1, {{std::string(message), 2}}};
  (void)browser::news_json(news);  // any bytes, even broken UTF-8: never throws
  return 0;
}
