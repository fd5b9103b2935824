#include "agent/end_of_turn.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace chalkbot {
namespace {

// Words an English sentence rarely ends with, fillers included (pocketsphinx writes "uh", "um").
constexpr std::array<std::string_view, 40> kContinuations = {
    "a",    "an",   "and",  "about", "are",   "as",    "at",    "because", "but",  "by",
    "for",  "from", "her",  "his",   "if",    "in",    "into",  "is",      "like", "my",
    "of",   "on",   "or",   "our",   "so",    "than",  "that",  "the",     "their", "then",
    "to",   "uh",   "um",   "er",    "was",   "were",  "with",  "would",   "your", "whether"};

}  // namespace

bool sounds_unfinished(std::string_view words) {
  // The last run of letters and apostrophes, lower-cased.
  std::size_t end = words.size();
  while (end > 0 && !std::isalpha(static_cast<unsigned char>(words[end - 1]))) --end;
  std::size_t begin = end;
  while (begin > 0 && (std::isalpha(static_cast<unsigned char>(words[begin - 1])) ||
                       words[begin - 1] == '\'')) {
    --begin;
  }
  if (begin == end) return false;  // nothing recognised yet: no reason to wait longer
  std::string last(words.substr(begin, end - begin));
  std::transform(last.begin(), last.end(), last.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::find(kContinuations.begin(), kContinuations.end(), last) != kContinuations.end();
}

}  // namespace chalkbot
