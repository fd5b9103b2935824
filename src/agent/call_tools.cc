#include "agent/call_tools.h"

#include <sstream>

#include <nlohmann/json.hpp>

namespace chalkbot {

Result<CallTools> CallTools::from(const ToolsSettings& tools, const FlowSettings& flow,
                                  const EnvLookup& env) {
  CallTools out;
  out.max_rounds_ = tools.max_rounds;
  out.apology_ = tools.apology;
  std::stringstream list(tools.builtin);
  std::string name;
  while (std::getline(list, name, ',')) {
    const auto first = name.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    name = name.substr(first, name.find_last_not_of(" \t") - first + 1);
    if (name == kTransferTool) {
      if (flow.transfer_to.empty()) {
        return make_error("tools.builtin: transfer_to_person needs flow.transfer_to (where to "
                          "send the caller)");
      }
      if (!out.transfer_) {
        out.specs_.push_back(
            {kTransferTool,
             "Transfer the caller to a person (a human agent). Use it when the caller asks for a "
             "person or when you cannot help; say nothing else after it.",
             R"({"type":"object","properties":{"reason":{"type":"string","description":)"
             R"("why the caller is transferred, in a few words"}},"required":["reason"]})"});
      }
      out.transfer_ = true;
    } else if (name == kEndCallTool) {
      if (!out.end_call_) {
        out.specs_.push_back({kEndCallTool,
                              "End the phone call. Use it when the caller is done; say your "
                              "goodbye in the same answer, before calling it.",
                              R"({"type":"object","properties":{}})"});
      }
      out.end_call_ = true;
    } else {
      return make_error("tools.builtin: '" + name +
                        "' is not a built-in tool (transfer_to_person, end_call)");
    }
  }
  auto http = HttpTools::from(tools.http, tools.allowed_hosts, env, {kTransferTool, kEndCallTool});
  if (!http) return http.error();
  out.http_ = std::move(*http);
  for (const auto& tool : out.http_.tools()) out.specs_.push_back(tool.spec);
  return out;
}

BuiltinTool CallTools::builtin(const std::string& name) const {
  if (transfer_ && name == kTransferTool) return BuiltinTool::kTransferToPerson;
  if (end_call_ && name == kEndCallTool) return BuiltinTool::kEndCall;
  return BuiltinTool::kNone;
}

std::string transfer_reason(const std::string& arguments) {
  const auto parsed = nlohmann::json::parse(arguments, nullptr, false);
  if (!parsed.is_object()) return {};
  const auto reason = parsed.find("reason");
  return reason != parsed.end() && reason->is_string() ? reason->get<std::string>() : "";
}

}  // namespace chalkbot
