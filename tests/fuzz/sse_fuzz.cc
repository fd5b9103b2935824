// The Server-Sent-Events parser, fed the input in pieces whose sizes come from the input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "llm/sse_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the split size and a small line limit, so overflow is reached too.
  const std::size_t piece = 1 + data[0] % 17;
  chalkbot::SseParser parser(data[0] & 0x80 ? 64 : 1 << 20);
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::size_t data_bytes = 0;
  while (!rest.empty()) {
    const std::size_t n = rest.size() < piece ? rest.size() : piece;
    for (const auto& event : parser.feed(rest.substr(0, n))) data_bytes += event.data.size();
    rest.remove_prefix(n);
  }
  if (data_bytes > size) __builtin_trap();  // events hold no more than what came in
  (void)parser.has_partial();
  return 0;
}
