#include "speech/wer.h"

#include <algorithm>
#include <cctype>

namespace chalkbot {
namespace {

// References are in spoken form ("mister"); engines that write ("Mr.") said the same word.
std::string spoken_form(std::string word) {
  if (word == "mr") return "mister";
  if (word == "mrs") return "missus";
  if (word == "dr") return "doctor";
  return word;
}

}  // namespace

double WordErrors::rate() const {
  if (reference_words == 0) return static_cast<double>(errors);
  return static_cast<double>(errors) / static_cast<double>(reference_words);
}

WordErrors& WordErrors::operator+=(const WordErrors& other) {
  errors += other.errors;
  reference_words += other.reference_words;
  return *this;
}

std::vector<std::string> normalise_words(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    // Tags (<s>, </s>, <sil>) and "(utt-id)" are transcription markup, not words.
    const bool markup = !word.empty() && (word.front() == '<' || word.front() == '(');
    while (!word.empty() && word.back() == '\'') word.pop_back();
    while (!word.empty() && word.front() == '\'') word.erase(word.begin());
    if (!markup && !word.empty()) {
      std::string letters;
      const auto take = [&] {
        if (!letters.empty()) words.push_back(spoken_form(std::move(letters)));
        letters.clear();
      };
      for (char c : word) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '-') {
          take();  // "ill-disposed" is the two words of "ill disposed"
        } else if (std::isalnum(u) != 0 || c == '\'') {
          letters.push_back(static_cast<char>(std::tolower(u)));
        }
      }
      take();
    }
    word.clear();
  };
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      flush();
    } else {
      word.push_back(c);
    }
  }
  flush();
  return words;
}

WordErrors word_errors(std::string_view reference, std::string_view hypothesis) {
  const auto ref = normalise_words(reference);
  const auto hyp = normalise_words(hypothesis);
  // Classic Levenshtein over words, one row at a time.
  std::vector<std::size_t> prev(hyp.size() + 1);
  std::vector<std::size_t> cur(hyp.size() + 1);
  for (std::size_t j = 0; j <= hyp.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= ref.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= hyp.size(); ++j) {
      const std::size_t substitute = prev[j - 1] + (ref[i - 1] == hyp[j - 1] ? 0 : 1);
      cur[j] = std::min({substitute, prev[j] + 1, cur[j - 1] + 1});
    }
    std::swap(prev, cur);
  }
  return WordErrors{prev[hyp.size()], ref.size()};
}

double word_error_rate(std::string_view reference, std::string_view hypothesis) {
  return word_errors(reference, hypothesis).rate();
}

}  // namespace chalkbot
