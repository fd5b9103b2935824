#include "agent/call_flow.h"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace chalkbot {
namespace {

std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> items;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto first = item.find_first_not_of(" \t");
    const auto last = item.find_last_not_of(" \t");
    if (first != std::string::npos) items.push_back(item.substr(first, last - first + 1));
  }
  return items;
}

// Words beyond the goodbye phrase that still make the utterance a goodbye ("ok bye now").
constexpr std::size_t kGoodbyeSlackWords = 3;

}  // namespace

std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '\'') {
      word += static_cast<char>(std::tolower(u));
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

Result<CallFlow> CallFlow::from(const FlowSettings& flow) {
  CallFlow result;
  for (const auto& entry : split_commas(flow.dtmf_actions)) {
    const auto eq = entry.find('=');
    const std::string key = entry.substr(0, eq);
    const std::string action = eq == std::string::npos ? "" : entry.substr(eq + 1);
    const bool valid_key =
        key.size() == 1 && std::string("0123456789*#ABCD").find(key[0]) != std::string::npos;
    if (!valid_key || (action != "repeat" && action != "hangup")) {
      return make_error("flow.dtmf_actions: '" + entry +
                        "' is not key=action (keys 0-9 * # A-D; actions repeat, hangup)");
    }
    result.dtmf_[key[0]] = action == "repeat" ? DtmfAction::kRepeat : DtmfAction::kHangup;
  }
  for (const auto& phrase : split_commas(flow.goodbye_phrases)) {
    auto words = words_of(phrase);
    if (!words.empty()) result.goodbye_phrases_.push_back(std::move(words));
  }
  return result;
}

DtmfAction CallFlow::action_for(char key) const {
  const auto it = dtmf_.find(key);
  return it == dtmf_.end() ? DtmfAction::kNone : it->second;
}

bool CallFlow::is_goodbye(const std::string& transcript) const {
  const auto words = words_of(transcript);
  for (const auto& phrase : goodbye_phrases_) {
    if (words.size() > phrase.size() + kGoodbyeSlackWords) continue;
    if (std::search(words.begin(), words.end(), phrase.begin(), phrase.end()) != words.end()) {
      return true;
    }
  }
  return false;
}

}  // namespace chalkbot
