#include "llm/sentence_splitter.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "core/text.h"

namespace chalkbot {
namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool is_terminator(char c) { return c == '.' || c == '!' || c == '?'; }
// Characters that may close a sentence after its terminator: quotes, brackets, markdown.
bool is_closer(char c) {
  return c == '"' || c == '\'' || c == ')' || c == ']' || c == '*' || c == '_' || c == '`';
}

// Words that end in a period without ending the sentence.
bool is_abbreviation(std::string_view word) {
  static constexpr std::array<std::string_view, 16> kWords = {
      "mr", "mrs", "ms", "dr", "st", "prof", "sr", "jr", "vs", "etc", "approx", "fig", "no",
      "mt", "ave", "dept"};
  const std::string w = ascii_lower(word);
  if (std::find(kWords.begin(), kWords.end(), w) != kWords.end()) return true;
  // Single letters and dotted letter runs: initials, e.g, i.e, a.m, p.m, u.s.
  if (w.size() == 1 && std::isalpha(static_cast<unsigned char>(w[0])) != 0 &&
      std::isupper(static_cast<unsigned char>(word[0])) != 0) {
    return true;
  }
  if (w.size() >= 3) {
    bool dotted = true;
    for (std::size_t i = 0; i < w.size(); ++i) {
      const bool letter = std::isalpha(static_cast<unsigned char>(w[i])) != 0;
      if ((i % 2 == 0 && !letter) || (i % 2 == 1 && w[i] != '.')) dotted = false;
    }
    if (dotted) return true;
  }
  return false;
}

std::size_t count_words(std::string_view text) {
  std::size_t words = 0;
  bool in_word = false;
  bool has_alnum = false;
  for (char c : text) {
    if (is_space(c)) {
      if (in_word && has_alnum) ++words;
      in_word = has_alnum = false;
    } else {
      in_word = true;
      has_alnum = has_alnum || is_alnum(c);
    }
  }
  if (in_word && has_alnum) ++words;
  return words;
}

bool speakable(std::string_view text) { return std::any_of(text.begin(), text.end(), is_alnum); }

std::string strip_links(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '[') {
      const auto close = text.find(']', i + 1);
      if (close != std::string_view::npos && close + 1 < text.size() && text[close + 1] == '(') {
        const auto paren = text.find(')', close + 2);
        if (paren != std::string_view::npos) {
          if (!out.empty() && out.back() == '!') out.pop_back();  // image: keep its alt text
          out.append(text.substr(i + 1, close - i - 1));
          i = paren + 1;
          continue;
        }
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

}  // namespace

std::string clean_for_speech(std::string_view text) {
  const std::string linked = strip_links(text);
  std::string out;
  std::size_t pos = 0;
  while (pos <= linked.size()) {
    auto eol = linked.find('\n', pos);
    if (eol == std::string::npos) eol = linked.size();
    std::string_view line = std::string_view(linked).substr(pos, eol - pos);
    while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
    // Line-start markup: headings, bullets, quotes.
    while (!line.empty() && line.front() == '#') line.remove_prefix(1);
    if (line.size() >= 2 && (line[0] == '-' || line[0] == '*' || line[0] == '+' ||
                             line[0] == '>') && line[1] == ' ') {
      line.remove_prefix(2);
    }
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (c == '*' || c == '`') continue;
      if ((c == '_' || c == '~') && i + 1 < line.size() && line[i + 1] == c) {
        ++i;
        continue;
      }
      out.push_back(c);
    }
    out.push_back(' ');
    pos = eol + 1;
  }
  // Fold whitespace.
  std::string folded;
  for (char c : out) {
    if (is_space(c)) {
      if (!folded.empty() && folded.back() != ' ') folded.push_back(' ');
    } else {
      folded.push_back(c);
    }
  }
  while (!folded.empty() && folded.back() == ' ') folded.pop_back();
  return folded;
}

std::optional<std::size_t> SentenceSplitter::next_boundary(bool final) const {
  const std::string& t = pending_;
  const std::size_t n = t.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char c = t[i];
    if (c == '\n') return i + 1;
    if (!first_done_ && (c == ',' || c == ';' || c == ':')) {
      if (i + 1 == n) return std::nullopt;  // wait: "3,000" or "10:30" may follow
      if (is_space(t[i + 1]) && count_words(std::string_view(t).substr(0, i)) >= first_min_words_) {
        return i + 1;
      }
      continue;
    }
    if (!is_terminator(c)) continue;
    std::size_t j = i + 1;
    while (j < n && is_terminator(t[j])) ++j;
    std::size_t k = j;
    while (k < n && is_closer(t[k])) ++k;
    if (k == n) return final ? std::optional<std::size_t>(n) : std::nullopt;
    if (!is_space(t[k])) {
      i = k - 1;  // 3.14, 1.2.3, e.g.x, "?!" inside a word: not an end
      continue;
    }
    const std::string_view run = std::string_view(t).substr(i, j - i);
    if (run == ".") {
      std::size_t w = i;
      while (w > 0 && !is_space(t[w - 1])) --w;
      std::string_view word = std::string_view(t).substr(w, i - w);
      while (!word.empty() && !is_alnum(word.front())) word.remove_prefix(1);
      if (is_abbreviation(word)) continue;
      // "1. First": a short number opening the line is a list marker.
      const bool line_start = w == 0 || t[w - 1] == '\n';
      if (line_start && !word.empty() && word.size() <= 3 &&
          std::all_of(word.begin(), word.end(), is_digit)) {
        continue;
      }
    } else if (run.find("..") != std::string_view::npos) {
      // An ellipsis ends the sentence only when a capital (or a line end) follows.
      std::size_t m = k;
      while (m < n && (t[m] == ' ' || t[m] == '\t')) ++m;
      if (m == n) return final ? std::optional<std::size_t>(n) : std::nullopt;
      if (std::islower(static_cast<unsigned char>(t[m])) != 0) {
        i = j - 1;  // past the whole run
        continue;
      }
    }
    return k;
  }
  if (n > max_chars_) {
    // No boundary in a long run: cut at the last space so speech can start.
    const auto space = t.find_last_of(" \t", max_chars_);
    if (space != std::string::npos && space > 0) return space + 1;
    return max_chars_;
  }
  return std::nullopt;
}

std::vector<std::string> SentenceSplitter::drain(bool final) {
  std::vector<std::string> chunks;
  while (true) {
    const auto first = std::find_if_not(pending_.begin(), pending_.end(), is_space);
    pending_.erase(pending_.begin(), first);
    if (pending_.empty()) break;
    auto end = next_boundary(final);
    if (!end) {
      if (!final) break;
      end = pending_.size();
    }
    std::string cleaned = clean_for_speech(std::string_view(pending_).substr(0, *end));
    pending_.erase(0, *end);
    if (speakable(cleaned)) {
      chunks.push_back(std::move(cleaned));
      first_done_ = true;
    }
  }
  return chunks;
}

std::vector<std::string> SentenceSplitter::push(std::string_view delta) {
  // A Unicode ellipsis is treated as three dots (its bytes may arrive in separate deltas).
  const std::size_t from = pending_.size() >= 2 ? pending_.size() - 2 : 0;
  pending_.append(delta);
  for (auto pos = pending_.find("\xE2\x80\xA6", from); pos != std::string::npos;
       pos = pending_.find("\xE2\x80\xA6", pos)) {
    pending_.replace(pos, 3, "...");
  }
  return drain(false);
}

std::vector<std::string> SentenceSplitter::finish() {
  auto chunks = drain(true);
  pending_.clear();
  first_done_ = false;
  return chunks;
}

}  // namespace chalkbot
