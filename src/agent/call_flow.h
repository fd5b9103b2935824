#pragma once
// The call-flow rules from flow.* settings, parsed once per process: which DTMF key does what and
// which caller phrases end the call.
#include <map>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/settings.h"

namespace chalkbot {

enum class DtmfAction { kNone, kRepeat, kHangup };

class CallFlow {
 public:
  // Fails naming flow.dtmf_actions when an entry is not key=action with a known key and action.
  static Result<CallFlow> from(const FlowSettings& flow);

  DtmfAction action_for(char key) const;
  // True when the transcript is a goodbye: one of the phrases as whole words, and the caller said
  // little else (a goodbye inside a longer question such as "how do I say goodbye in French"
  // is a question).
  bool is_goodbye(const std::string& transcript) const;

 private:
  std::map<char, DtmfAction> dtmf_;
  std::vector<std::vector<std::string>> goodbye_phrases_;  // each phrase as words
};

// Lower-case words of `text`, punctuation dropped (apostrophes kept).
std::vector<std::string> words_of(const std::string& text);

}  // namespace chalkbot
