#include "aws/connect_flow.h"

#include "agent/call_tools.h"
#include "store/dynamodb.h"

#include <yaml-cpp/yaml.h>

#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace chalkbot {
namespace {

using nlohmann::json;

// Amazon Polly voices the original deployments used -> the nearest espeak-ng voice. Only the
// language and gender carry over; the sound does not.
const std::map<std::string, std::string>& polly_to_espeak() {
  static const std::map<std::string, std::string> table{
      {"Joanna", "en-us+f3"},   {"Salli", "en-us+f3"}, {"Kimberly", "en-us+f3"},
      {"Kendra", "en-us+f3"},   {"Ivy", "en-us+f3"},   {"Ruth", "en-us+f3"},
      {"Danielle", "en-us+f3"}, {"Matthew", "en-us"},  {"Joey", "en-us"},
      {"Justin", "en-us"},      {"Kevin", "en-us"},    {"Stephen", "en-us"},
      {"Gregory", "en-us"},     {"Amy", "en-gb+f3"},   {"Emma", "en-gb+f3"},
      {"Brian", "en-gb"},       {"Arthur", "en-gb"},
  };
  return table;
}

struct Action {
  std::string id;
  std::string type;
  json parameters;
  std::vector<std::string> next;  // NextAction first, then error and condition branches
  std::string next_action;        // the plain NextAction ('' when none)
};

std::vector<Action> read_actions(const json& actions) {
  std::vector<Action> out;
  for (const auto& a : actions) {
    if (!a.is_object()) continue;
    Action action;
    action.id = string_field(a, "Identifier");
    action.type = string_field(a, "Type");
    action.parameters =
        a.contains("Parameters") && a["Parameters"].is_object() ? a["Parameters"] : json::object();
    const json transitions = a.contains("Transitions") && a["Transitions"].is_object()
                                 ? a["Transitions"]
                                 : json::object();
    action.next_action = string_field(transitions, "NextAction");
    if (!action.next_action.empty()) action.next.push_back(action.next_action);
    for (const char* branch : {"Errors", "Conditions"}) {
      const auto list = transitions.find(branch);
      if (list == transitions.end() || !list->is_array()) continue;
      for (const auto& b : *list) {
        if (b.is_object() && b.contains("NextAction") && b["NextAction"].is_string()) {
          action.next.push_back(b["NextAction"].get<std::string>());
        }
      }
    }
    out.push_back(std::move(action));
  }
  return out;
}

// Ids reachable from `starts` (excluding the starts themselves unless reached again), in order.
std::vector<std::string> reachable(const std::map<std::string, const Action*>& by_id,
                                   const std::vector<std::string>& starts, bool include_starts) {
  std::vector<std::string> order;
  std::set<std::string> seen;
  std::deque<std::string> queue;
  for (const auto& s : starts) {
    if (include_starts) {
      if (seen.insert(s).second) queue.push_back(s);
    } else if (const auto it = by_id.find(s); it != by_id.end()) {
      for (const auto& n : it->second->next) {
        if (seen.insert(n).second) queue.push_back(n);
      }
    }
  }
  while (!queue.empty()) {
    const std::string id = queue.front();
    queue.pop_front();
    const auto it = by_id.find(id);
    if (it == by_id.end()) continue;
    order.push_back(id);
    for (const auto& n : it->second->next) {
      if (seen.insert(n).second) queue.push_back(n);
    }
  }
  return order;
}

}  // namespace

Result<FlowImport> import_connect_flow(std::string_view export_json,
                                       const FlowImportOptions& options) {
  if (options.transfer_via.find_first_of("@:;<> \t/") != std::string::npos) {
    return make_error("flow import: --transfer-via '" + options.transfer_via +
                      "' is not a host name or IPv4 address (e.g. sip.provider.example)");
  }
  const json flow = json::parse(export_json, nullptr, false);
  if (flow.is_discarded() || !flow.is_object()) return make_error("flow import: not JSON");
  if (!flow.contains("Actions") || !flow["Actions"].is_array()) {
    return make_error("flow import: no Actions list: not an Amazon Connect flow export");
  }
  const std::string start = string_field(flow, "StartAction");
  const std::vector<Action> actions = read_actions(flow["Actions"]);
  std::map<std::string, const Action*> by_id;
  for (const auto& a : actions) by_id[a.id] = &a;
  if (start.empty() || by_id.find(start) == by_id.end()) {
    return make_error("flow import: StartAction '" + start + "' is not one of the Actions");
  }

  // Walk order: from the start, then blocks nothing reaches.
  std::vector<std::string> order = reachable(by_id, {start}, true);
  std::set<std::string> placed(order.begin(), order.end());
  for (const auto& a : actions) {
    if (placed.insert(a.id).second) order.push_back(a.id);
  }
  std::vector<std::string> lex_ids;
  for (const auto& a : actions) {
    if (a.type == "ConnectParticipantWithLexBot") lex_ids.push_back(a.id);
  }
  const auto after_lex_list = reachable(by_id, lex_ids, false);
  const std::set<std::string> after_lex(after_lex_list.begin(), after_lex_list.end());
  const auto leads_to = [&](const Action& a, const std::string& type) {
    const auto next = by_id.find(a.next_action);
    return next != by_id.end() && next->second->type == type;
  };

  FlowImport import;
  std::string greeting;
  std::string greeting_from;
  bool have_reprompt = false;
  bool have_farewell = false;
  bool have_voice = false;
  bool have_transfer = false;
  const auto unmapped = [&](const Action& a, std::string reason) {
    import.unmapped.push_back({a.id, a.type, std::move(reason)});
  };
  const auto add_greeting = [&](const Action& a, const std::string& text) {
    greeting += (greeting.empty() ? "" : " ") + text;
    greeting_from += (greeting_from.empty() ? "" : ", ") + a.type + " " + a.id;
  };

  for (const auto& id : order) {
    const Action& a = *by_id.at(id);
    const bool reached_from_lex = after_lex.count(id) > 0;
    if (a.type == "MessageParticipant") {
      const std::string text = string_field(a.parameters, "Text");
      if (text.empty()) {
        unmapped(a, "only plain Text messages map (this one is SSML, an audio prompt or empty)");
      } else if (!reached_from_lex) {
        add_greeting(a, text);
      } else if (leads_to(a, "ConnectParticipantWithLexBot") && !have_reprompt) {
        import.settings.push_back({"flow.reprompt", text, a.type + " " + a.id});
        have_reprompt = true;
      } else if ((a.next_action.empty() || leads_to(a, "DisconnectParticipant")) &&
                 !have_farewell) {
        import.settings.push_back({"flow.farewell", text, a.type + " " + a.id});
        have_farewell = true;
      } else {
        unmapped(a, "a message in a branch Chalkbot's flow has no place for");
      }
    } else if (a.type == "ConnectParticipantWithLexBot") {
      if (&a != by_id.at(lex_ids.front())) {
        unmapped(a, "a second Lex conversation: Chalkbot has one conversation per call");
        continue;
      }
      const std::string text = string_field(a.parameters, "Text");
      // Its prompt opens the conversation (Connect replays it on each loop; we say it once).
      if (!text.empty()) add_greeting(a, text);
      import.notes.push_back("ConnectParticipantWithLexBot " + a.id +
                             ": the Lex bot and its loop become Chalkbot's LLM conversation "
                             "(llm.*); its intents and slots are not imported");
    } else if (a.type == "DisconnectParticipant") {
      // Chalkbot hangs up after flow.farewell: nothing to set.
    } else if (a.type == "UpdateContactTextToSpeechVoice") {
      const std::string voice = string_field(a.parameters, "TextToSpeechVoice");
      const auto match = polly_to_espeak().find(voice);
      if (match == polly_to_espeak().end()) {
        unmapped(a, "Amazon Polly voice '" + voice + "' has no local equivalent: set tts.voice");
      } else if (have_voice) {
        unmapped(a, "a second voice change: Chalkbot keeps one voice per call");
      } else {
        import.settings.push_back({"tts.provider", "espeak", a.type + " " + a.id});
        import.settings.push_back({"tts.voice", match->second, a.type + " " + a.id});
        import.notes.push_back("Polly voice " + voice + " approximated by espeak-ng voice " +
                               match->second + " (same language and gender only)");
        have_voice = true;
      }
    } else if (a.type == "TransferParticipantToThirdParty") {
      const std::string number = string_field(a.parameters, "ThirdPartyPhoneNumber");
      // A phone number only becomes a SIP URI through the user's trunk, which the flow does not
      // name: --transfer-via says which.
      if (have_transfer) {
        unmapped(a, "a second transfer target: Chalkbot transfers to one (flow.transfer_to)" +
                        (number.empty() ? std::string() : "; this one was " + number));
      } else if (options.transfer_via.empty() || number.empty()) {
        unmapped(a, "set flow.transfer_to to a SIP URI that reaches it through your trunk "
                    "(flow import --transfer-via HOST does it)" +
                        (number.empty() ? std::string() : "; the target was " + number));
      } else {
        import.settings.push_back({"flow.transfer_to",
                                   "sip:" + number + "@" + options.transfer_via + ";user=phone",
                                   a.type + " " + a.id});
        // What led to the block in Connect (a Lex intent) is the model's judgement here.
        import.settings.push_back({"tools.builtin", kTransferTool, a.type + " " + a.id});
        import.notes.push_back(
            "transfer to " + number + ": Chalkbot transfers a caller who asks for a person "
            "(flow.transfer_phrases), presses a key mapped to transfer (flow.dtmf_actions), or "
            "whom the model hands over (its transfer_to_person tool); what led to the block in "
            "Connect (a Lex intent, a menu) is not carried over");
        have_transfer = true;
      }
    } else {
      unmapped(a, "no Chalkbot equivalent");
    }
    for (const auto& next : a.next) {
      if (by_id.find(next) == by_id.end()) {
        import.notes.push_back(a.type + " " + a.id + " leads to missing action " + next);
      }
    }
  }
  if (!greeting.empty()) {
    import.settings.insert(import.settings.begin(), {"flow.greeting", greeting, greeting_from});
  }
  return import;
}

std::string flow_import_to_yaml(const FlowImport& import) {
  std::string out = "# Imported from an Amazon Connect flow by `chalkbot flow import`.\n";
  for (const auto& note : import.notes) out += "# note: " + note + "\n";
  for (const auto& block : import.unmapped) {
    out += "# unmapped: " + block.type + " " + block.identifier + ": " + block.reason + "\n";
  }
  std::map<std::string, std::vector<const FlowSetting*>> sections;
  for (const auto& setting : import.settings) {
    sections[setting.key.substr(0, setting.key.find('.'))].push_back(&setting);
  }
  for (const auto& [section, settings] : sections) {
    out += section + ":\n";
    for (const auto* setting : settings) {
      YAML::Emitter value;
      value << YAML::DoubleQuoted << setting->value;
      out += "  # from " + setting->from + "\n";
      out += "  " + setting->key.substr(section.size() + 1) + ": " + value.c_str() + "\n";
    }
  }
  return out;
}

}  // namespace chalkbot
