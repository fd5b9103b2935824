#pragma once
// The call-flow rules from flow.* settings, parsed once per process: which DTMF key does what and
// which caller phrases end the call, which tools the model may call.
#include <map>
#include <string>
#include <vector>

#include "agent/call_tools.h"
#include "core/result.h"
#include "core/settings.h"

namespace chalkbot {

enum class DtmfAction { kNone, kRepeat, kHangup, kTransfer };

class CallFlow {
 public:
  // Fails naming flow.dtmf_actions when an entry is not key=action with a known key and action
  // (transfer only with flow.transfer_to), and flow.transfer_to when it is not a SIP URI.
  // `forget_phrases` (memory.forget_phrases, '' when memory across calls is off): a comma list.
  static Result<CallFlow> from(const FlowSettings& flow, const std::string& forget_phrases = "");
  // The same with the tools the model may call (tools.*; see CallTools::from for the errors).
  static Result<CallFlow> from(const FlowSettings& flow, const ToolsSettings& tools,
                               const EnvLookup& env = process_env,
                               const std::string& forget_phrases = "");

  DtmfAction action_for(char key) const;
  // True when the transcript is a goodbye: one of the phrases as whole words, and the caller said
  // little else (a goodbye inside a longer question such as "how do I say goodbye in French"
  // is a question).
  bool is_goodbye(const std::string& transcript) const;
  // True when transfers are configured and the caller asks for a person: one of the phrases as
  // whole words in a short utterance ("can I talk to a person please").
  bool wants_transfer(const std::string& transcript) const;
  // The model's tools (none unless the flow declares some).
  const CallTools& tools() const { return tools_; }
  // True when the caller asks to be forgotten: one of the forget phrases as whole words in a
  // short utterance ("please forget me").
  bool wants_forgetting(const std::string& transcript) const;

 private:
  using Phrase = std::vector<std::string>;  // as words
  static bool says_one_of(const std::vector<std::string>& words, const std::vector<Phrase>& phrases,
                          std::size_t slack_words);

  std::map<char, DtmfAction> dtmf_;
  std::vector<Phrase> goodbye_phrases_;
  std::vector<Phrase> transfer_phrases_;  // empty when flow.transfer_to is not set
  CallTools tools_;
  std::vector<Phrase> forget_phrases_;    // empty when memory across calls is off
};

// Lower-case words of `text`, punctuation dropped (apostrophes kept).
std::vector<std::string> words_of(const std::string& text);

}  // namespace chalkbot
