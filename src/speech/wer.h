#pragma once
// Word error rate: (substitutions + deletions + insertions) / reference words, by edit distance
// over normalised words (lower case, punctuation dropped, apostrophes kept, hyphens split words,
// Mr./Mrs./Dr. read as spoken, <s>-style tags and "(utterance-id)" suffixes of Sphinx
// transcription lines ignored).
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace chalkbot {

struct WordErrors {
  std::size_t errors = 0;           // substitutions + deletions + insertions
  std::size_t reference_words = 0;
  // errors / reference words; 0 for two empty texts, 1 per word for an empty reference.
  double rate() const;
  WordErrors& operator+=(const WordErrors& other);
};

std::vector<std::string> normalise_words(std::string_view text);
WordErrors word_errors(std::string_view reference, std::string_view hypothesis);
double word_error_rate(std::string_view reference, std::string_view hypothesis);

}  // namespace chalkbot
