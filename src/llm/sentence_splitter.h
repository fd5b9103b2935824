#pragma once
// Cuts streamed model text into speakable chunks for TTS. The first chunk is released as early as
// possible (first sentence end, or a clause mark , ; : once it holds a few words) because it sets
// the caller-perceived latency; later chunks end at sentence ends or line breaks. Abbreviations,
// decimals, versions and list markers ("1. ") do not end a sentence. Markdown that must not be
// spoken is removed. Not thread-safe: one per reply.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chalkbot {

class SentenceSplitter {
 public:
  // first_min_words: words a first chunk needs before a clause mark may end it.
  // max_chars: a chunk with no boundary is cut at a space beyond this length.
  explicit SentenceSplitter(std::size_t first_min_words = 4, std::size_t max_chars = 300)
      : first_min_words_(first_min_words), max_chars_(max_chars) {}

  // Adds streamed text; returns the chunks that became complete (cleaned, non-empty).
  std::vector<std::string> push(std::string_view delta);
  // End of the reply: returns whatever is left (cleaned; empty when nothing speakable).
  std::vector<std::string> finish();

 private:
  std::optional<std::size_t> next_boundary(bool final) const;
  std::vector<std::string> drain(bool final);

  std::size_t first_min_words_;
  std::size_t max_chars_;
  std::string pending_;
  bool first_done_ = false;
};

// Removes markdown that must not be spoken (** * # ` ~~, "- " bullets, [text](url) -> text) and
// folds whitespace to single spaces.
std::string clean_for_speech(std::string_view text);

}  // namespace chalkbot
