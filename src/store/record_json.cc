#include "store/record_json.h"

namespace chalkbot {

using nlohmann::json;

json call_json(const CallRecord& c) {
  json j{{"id", c.id},          {"from", c.from},    {"to", c.to},
         {"node", c.node},      {"started_ms", c.started_ms},
         {"ended_ms", nullptr}, {"end_reason", c.end_reason}};
  if (c.ended_ms) j["ended_ms"] = *c.ended_ms;
  return j;
}

json times_json(const StageTimes& t) {
  json j = json::object();
  const auto put = [&](const char* name, const std::optional<std::int64_t>& v) {
    j[name] = v ? json(*v) : json(nullptr);
  };
  put("speech_start", t.speech_start);
  put("speech_end", t.speech_end);
  put("endpoint", t.endpoint);
  put("asr_done", t.asr_done);
  put("llm_first_token", t.llm_first_token);
  put("first_sentence", t.first_sentence);
  put("tts_first_audio", t.tts_first_audio);
  put("first_rtp_out", t.first_rtp_out);
  put("done", t.done);
  return j;
}

json turn_json(const TurnRecord& t) {
  return {{"call_id", t.call_id},         {"index", t.index},
          {"role", t.role},               {"text", t.text},
          {"interrupted", t.interrupted}, {"times", times_json(t.times)}};
}

json tool_call_json(const ToolCallRecord& t) {
  const auto as_json = [](const std::string& text) {
    json parsed = json::parse(text, nullptr, false);
    return parsed.is_discarded() ? json(text) : parsed;
  };
  return {{"call_id", t.call_id},
          {"index", t.index},
          {"name", t.name},
          {"arguments", as_json(t.arguments)},
          {"result", as_json(t.result)},
          {"ok", t.ok},
          {"started_ms", t.started_ms},
          {"duration_ms", t.duration_ms}};
}

}  // namespace chalkbot
