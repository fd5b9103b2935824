#pragma once
// The tools a call's model may use (tools.* settings), parsed once per process: the built-ins,
// which act on the call itself (transfer_to_person reaches the same REFER transfer as the
// caller's phrases and DTMF; end_call says the goodbye and hangs up), and the HTTP tools the
// flow file declares (llm/http_tool.h). Thread-safe after construction.
#include <string>
#include <vector>

#include "core/config.h"
#include "core/result.h"
#include "core/settings.h"
#include "llm/http_tool.h"
#include "llm/tool_calls.h"

namespace chalkbot {

inline constexpr const char* kTransferTool = "transfer_to_person";
inline constexpr const char* kEndCallTool = "end_call";

enum class BuiltinTool { kNone, kTransferToPerson, kEndCall };

class CallTools {
 public:
  CallTools() = default;  // no tools
  // Errors name the key: tools.builtin (an unknown name, or transfer_to_person without
  // flow.transfer_to), tools.allowed_hosts, tools.http[i] (name).<key>.
  static Result<CallTools> from(const ToolsSettings& tools, const FlowSettings& flow,
                                const EnvLookup& env = process_env);

  bool empty() const { return specs_.empty(); }
  // What every request to the model declares.
  const std::vector<ToolSpec>& specs() const { return specs_; }
  // kNone for a name that is not an enabled built-in.
  BuiltinTool builtin(const std::string& name) const;
  const HttpTools& http() const { return http_; }
  int max_rounds() const { return max_rounds_; }
  const std::string& apology() const { return apology_; }

 private:
  std::vector<ToolSpec> specs_;
  bool transfer_ = false;
  bool end_call_ = false;
  HttpTools http_;
  int max_rounds_ = 0;
  std::string apology_;
};

// The `reason` argument of a transfer_to_person call ('' when absent or not JSON).
std::string transfer_reason(const std::string& arguments);

}  // namespace chalkbot
