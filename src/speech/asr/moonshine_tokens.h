#pragma once
// Moonshine's token table (LLaMA's 32,000-piece SentencePiece vocabulary) and its id -> text rule.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"

namespace chalkbot {

class MoonshineTokens {
 public:
  static constexpr std::int64_t kStart = 1;  // <s>: the decoder's first input
  static constexpr std::int64_t kEnd = 2;    // </s>: generation stops here

  // One piece per line, in id order (scripts/install-deps writes it).
  static Result<MoonshineTokens> load(const std::string& path);
  explicit MoonshineTokens(std::vector<std::string> pieces) : pieces_(std::move(pieces)) {}

  // Ids to text: a piece "<0xHH>" is the raw byte HH, others their own UTF-8; the bytes are read
  // as UTF-8 as a whole (so characters split over byte pieces join up; invalid sequences become
  // U+FFFD), "▁" becomes a space and one leading space is dropped. Control pieces (<unk>, <s>,
  // </s>) and ids without a piece are skipped.
  std::string decode(std::span<const std::int64_t> ids) const;
  std::size_t size() const { return pieces_.size(); }

 private:
  std::vector<std::string> pieces_;
};

}  // namespace chalkbot
