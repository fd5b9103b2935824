#include "transport/browser_protocol.h"

#include <nlohmann/json.hpp>

namespace chalkbot::browser {
namespace {

using json = nlohmann::json;

}  // namespace

Result<Control> parse_control(std::string_view text) {
  const json message = json::parse(text, nullptr, false);
  if (message.is_discarded() || !message.is_object()) return make_error("not a JSON object");
  const auto type = message.find("type");
  if (type == message.end() || !type->is_string()) return make_error("no \"type\"");
  const std::string kind = type->get<std::string>();
  if (kind == "start") {
    const auto rate = message.find("rate");
    if (rate == message.end() || !rate->is_number_integer() ||
        rate->get<std::int64_t>() < kMinUpRate || rate->get<std::int64_t>() > kMaxUpRate) {
      return make_error("\"start\" without a \"rate\" from " + std::to_string(kMinUpRate) +
                        " to " + std::to_string(kMaxUpRate) + " Hz");
    }
    return Control{Control::Kind::kStart, static_cast<int>(rate->get<std::int64_t>()), 0};
  }
  if (kind == "dtmf") {
    const auto digit = message.find("digit");
    if (digit == message.end() || !digit->is_string() || digit->get<std::string>().size() != 1 ||
        std::string_view("0123456789*#ABCD").find(digit->get<std::string>()[0]) ==
            std::string_view::npos) {
      return make_error("\"dtmf\" without a key in \"digit\"");
    }
    return Control{Control::Kind::kDtmf, 0, digit->get<std::string>()[0]};
  }
  if (kind == "hangup") return Control{Control::Kind::kHangUp, 0, 0};
  return make_error("unknown type \"" + kind.substr(0, 32) + "\"");
}

Status decode_audio(std::string_view bytes, std::vector<Sample>& out) {
  if (bytes.size() % 2 != 0) return make_error("audio of an odd length (16-bit samples expected)");
  if (bytes.size() > kMaxAudioBytes) {
    return make_error("an audio message of " + std::to_string(bytes.size()) + " bytes (at most " +
                      std::to_string(kMaxAudioBytes) + ")");
  }
  out.reserve(out.size() + bytes.size() / 2);
  for (std::size_t i = 0; i < bytes.size(); i += 2) {
    const auto low = static_cast<std::uint8_t>(bytes[i]);
    const auto high = static_cast<std::uint8_t>(bytes[i + 1]);
    out.push_back(static_cast<Sample>(static_cast<std::uint16_t>(low | (high << 8))));
  }
  return {};
}

std::string encode_audio(Samples pcm) {
  std::string bytes(pcm.size() * 2, '\0');
  for (std::size_t i = 0; i < pcm.size(); ++i) {
    const auto value = static_cast<std::uint16_t>(pcm[i]);
    bytes[2 * i] = static_cast<char>(value & 0xff);
    bytes[2 * i + 1] = static_cast<char>(value >> 8);
  }
  return bytes;
}

std::string started_json(const std::string& call_id, int rate) {
  return json{{"type", "started"}, {"call_id", call_id}, {"rate", rate}}.dump();
}

std::string clear_json() { return R"({"type":"clear"})"; }

std::string news_json(const StreamNews& news) {
  // Text from the model or the recogniser may hold broken UTF-8: replaced, never thrown on.
  const auto dump = [](const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); };
  switch (news.kind) {
    case StreamNews::Kind::kCaller:
      return dump({{"type", "caller"}, {"text", news.text}});
    case StreamNews::Kind::kBot:
      return dump({{"type", "bot"}, {"text", news.text}});
    case StreamNews::Kind::kTurn: {
      json stages = json::array();
      for (const auto& stage : news.stages) stages.push_back({{"name", stage.name}, {"ms", stage.ms}});
      json out{{"type", "turn"},
               {"text", news.text},
               {"interrupted", news.interrupted},
               {"stages", stages}};
      out["latency_ms"] = news.latency_ms >= 0 ? json(news.latency_ms) : json(nullptr);
      return dump(out);
    }
  }
  return {};
}

std::string ended_json(const std::string& reason, const std::string& error) {
  json out{{"type", "ended"}, {"reason", reason}};
  if (!error.empty()) out["error"] = error;
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace chalkbot::browser
