#include "agent/end_of_turn.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "agent/call_flow.h"  // words_of

namespace chalkbot {
namespace {

// Words an English sentence rarely ends with, fillers included (pocketsphinx writes "uh", "um").
constexpr std::array<std::string_view, 40> kContinuations = {
    "a",    "an",   "and",  "about", "are",   "as",    "at",    "because", "but",  "by",
    "for",  "from", "her",  "his",   "if",    "in",    "into",  "is",      "like", "my",
    "of",   "on",   "or",   "our",   "so",    "than",  "that",  "the",     "their", "then",
    "to",   "uh",   "um",   "er",    "was",   "were",  "with",  "would",   "your", "whether"};

// Words that open a call before the question: greetings and fillers. An utterance of these alone
// is not a turn ("Hello." [breath] "What time do you open?"). Answers such as "yes" or "okay" are
// not among them: they finish a turn.
constexpr std::array<std::string_view, 18> kOpeners = {
    "hello", "hallo", "hi",  "hey", "hiya", "there", "good", "morning", "afternoon",
    "evening", "um",  "uh",  "er",  "erm",  "hmm",   "so",   "well",    "oh"};

template <std::size_t N>
bool is_one_of(const std::string& word, const std::array<std::string_view, N>& set) {
  return std::find(set.begin(), set.end(), word) != set.end();
}

}  // namespace

bool sounds_unfinished(std::string_view text) {
  const std::vector<std::string> words = words_of(std::string(text));
  if (words.empty()) return false;  // nothing recognised yet: no reason to wait longer
  // Moonshine ends a clause it heard cut off with a comma ("He was not,"): measured on real
  // sentences cut between two words, 4 of 10 ended so, and no question did.
  const auto last = text.find_last_not_of(" \t\n");
  if (last != std::string_view::npos && text[last] == ',') return true;
  if (is_one_of(words.back(), kContinuations)) return true;
  return std::all_of(words.begin(), words.end(),
                     [](const std::string& word) { return is_one_of(word, kOpeners); });
}

bool sounds_finished(std::string_view text) {
  const auto last = text.find_last_not_of(" \t\n\"')");
  if (last == std::string_view::npos || text[last] != '?') return false;
  return !words_of(std::string(text)).empty() && !sounds_unfinished(text);
}

}  // namespace chalkbot
