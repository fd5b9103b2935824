// Remote speech (OpenAI-compatible /audio/speech, response_format "pcm": 24 kHz 16-bit LE mono),
// streamed to the sink chunk by chunk as it arrives, resampled to the asked rate.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <optional>

#include "core/settings.h"
#include "media/resampler.h"
#include "net/http.h"
#include "speech/tts/backends.h"

namespace chalkbot {
namespace {

constexpr int kPcmRate = 24000;

bool iequals_ascii(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

class OpenAiTts final : public Tts {
 public:
  explicit OpenAiTts(const TtsSettings& settings) : settings_(settings) {
    std::string base = settings.base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    url_ = base + "/audio/speech";
  }

  Status synthesize(std::string_view text, int sample_rate, const AudioSink& sink,
                    const CancelToken& cancel) override {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return {};
    auto resampler = Resampler::create(kPcmRate, sample_rate);
    if (!resampler) return resampler.error();
    const nlohmann::json body = {{"model", settings_.model},
                                 {"input", std::string(text)},
                                 {"voice", settings_.voice},
                                 {"response_format", "pcm"}};
    HttpRequest request = json_post(url_, body.dump(-1, ' ', false,
                                                    nlohmann::json::error_handler_t::replace),
                                    settings_.api_key);
    request.total_timeout_ms = settings_.timeout_ms;
    request.connect_timeout_ms = settings_.timeout_ms;
    request.stall_timeout_ms = settings_.stall_timeout_ms;

    bool stopped = false;
    std::optional<std::string> not_audio;  // the Content-Type of a 2xx reply that is not audio
    std::optional<unsigned char> carry;  // odd byte left from the previous chunk
    std::vector<Sample> pcm;
    // A proxy's HTML page or a JSON error sent with 200 must never be played as PCM.
    request.accept_headers = [&](const std::vector<HttpHeader>& headers) {
      for (const auto& h : headers) {
        if (!iequals_ascii(h.name, "content-type")) continue;
        if (h.value.starts_with("text/") || h.value.starts_with("application/json")) {
          not_audio = h.value;
          return false;
        }
      }
      return true;
    };
    const BodySink on_bytes = [&](std::string_view bytes) {
      pcm.clear();
      std::size_t i = 0;
      if (carry && !bytes.empty()) {
        const auto hi = static_cast<unsigned>(static_cast<unsigned char>(bytes[0]));
        pcm.push_back(static_cast<Sample>(static_cast<std::uint16_t>(*carry | (hi << 8))));
        carry.reset();
        i = 1;
      }
      for (; i + 1 < bytes.size(); i += 2) {
        const auto lo = static_cast<unsigned>(static_cast<unsigned char>(bytes[i]));
        const auto hi = static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1]));
        pcm.push_back(static_cast<Sample>(static_cast<std::uint16_t>(lo | (hi << 8))));
      }
      if (i < bytes.size()) carry = static_cast<unsigned char>(bytes[i]);
      if (pcm.empty()) return true;
      const auto out = resampler->process(pcm);
      if (!out.empty() && !sink(out)) {
        stopped = true;
        return false;
      }
      return !cancel.cancelled();
    };
    const HttpResponse response = http_perform(request, on_bytes, cancel);
    if (not_audio) {
      return make_error(ErrorKind::kMalformed,
                        "speech request failed: malformed reply: not audio (" + *not_audio + ")");
    }
    if (stopped || response.outcome == HttpOutcome::kCancelled ||
        response.outcome == HttpOutcome::kStopped) {
      return {};
    }
    if (!response.success()) {
      return http_error(response, "speech request failed: " +
                                      redact_secrets(describe_failure(response), settings_.api_key));
    }
    const auto tail = resampler->flush();
    if (!tail.empty()) sink(tail);
    return {};
  }

  std::string name() const override { return "openai"; }

 private:
  const TtsSettings settings_;  // immutable: synthesize() is thread-safe
  std::string url_;
};

}  // namespace

Result<std::unique_ptr<Tts>> make_openai_tts(const TtsSettings& settings) {
  if (settings.base_url.empty()) return make_error("tts.base_url: empty (and no llm.base_url)");
  if (settings.model.empty()) return make_error("tts.model: empty");
  return std::unique_ptr<Tts>(std::make_unique<OpenAiTts>(settings));
}

}  // namespace chalkbot
