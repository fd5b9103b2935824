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
// The same for a transfer request ("I want to talk to an operator"); a longer question that
// merely mentions an operator is answered.
constexpr std::size_t kTransferSlackWords = 6;

std::vector<std::vector<std::string>> phrases_of(const std::string& list) {
  std::vector<std::vector<std::string>> phrases;
  for (const auto& phrase : split_commas(list)) {
    auto words = words_of(phrase);
    if (!words.empty()) phrases.push_back(std::move(words));
  }
  return phrases;
}

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

Result<CallFlow> CallFlow::from(const FlowSettings& flow, const std::string& forget_phrases) {
  CallFlow result;
  const bool transfers = !flow.transfer_to.empty();
  if (transfers && flow.transfer_to.rfind("sip:", 0) != 0 &&
      flow.transfer_to.rfind("sips:", 0) != 0) {
    return make_error("flow.transfer_to: '" + flow.transfer_to +
                      "' is not a SIP URI (sip:user@host[:port])");
  }
  const std::map<std::string, DtmfAction> actions = {{"repeat", DtmfAction::kRepeat},
                                                     {"hangup", DtmfAction::kHangup},
                                                     {"transfer", DtmfAction::kTransfer}};
  for (const auto& entry : split_commas(flow.dtmf_actions)) {
    const auto eq = entry.find('=');
    const std::string key = entry.substr(0, eq);
    const std::string action = eq == std::string::npos ? "" : entry.substr(eq + 1);
    const bool valid_key =
        key.size() == 1 && std::string("0123456789*#ABCD").find(key[0]) != std::string::npos;
    const auto known = actions.find(action);
    if (!valid_key || known == actions.end()) {
      return make_error("flow.dtmf_actions: '" + entry +
                        "' is not key=action (keys 0-9 * # A-D; actions repeat, hangup, transfer)");
    }
    if (known->second == DtmfAction::kTransfer && !transfers) {
      return make_error("flow.dtmf_actions: '" + entry +
                        "' transfers the call, but flow.transfer_to (where to) is not set");
    }
    result.dtmf_[key[0]] = known->second;
  }
  result.goodbye_phrases_ = phrases_of(flow.goodbye_phrases);
  if (transfers) result.transfer_phrases_ = phrases_of(flow.transfer_phrases);
  result.forget_phrases_ = phrases_of(forget_phrases);
  return result;
}

Result<CallFlow> CallFlow::from(const FlowSettings& flow, const ToolsSettings& tools,
                                const EnvLookup& env, const std::string& forget_phrases) {
  auto result = from(flow, forget_phrases);
  if (!result) return result;
  auto call_tools = CallTools::from(tools, flow, env);
  if (!call_tools) return call_tools.error();
  result->tools_ = std::move(*call_tools);
  return result;
}

DtmfAction CallFlow::action_for(char key) const {
  const auto it = dtmf_.find(key);
  return it == dtmf_.end() ? DtmfAction::kNone : it->second;
}

bool CallFlow::says_one_of(const std::vector<std::string>& words,
                           const std::vector<Phrase>& phrases, std::size_t slack_words) {
  for (const auto& phrase : phrases) {
    if (words.size() > phrase.size() + slack_words) continue;
    if (std::search(words.begin(), words.end(), phrase.begin(), phrase.end()) != words.end()) {
      return true;
    }
  }
  return false;
}

bool CallFlow::is_goodbye(const std::string& transcript) const {
  return says_one_of(words_of(transcript), goodbye_phrases_, kGoodbyeSlackWords);
}

bool CallFlow::wants_transfer(const std::string& transcript) const {
  return says_one_of(words_of(transcript), transfer_phrases_, kTransferSlackWords);
}

bool CallFlow::wants_forgetting(const std::string& transcript) const {
  return says_one_of(words_of(transcript), forget_phrases_, kTransferSlackWords);
}

}  // namespace chalkbot
