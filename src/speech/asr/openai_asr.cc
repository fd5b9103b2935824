// Remote transcription (OpenAI-compatible /audio/transcriptions): the utterance is buffered and
// sent as one 16-bit mono WAV when it ends.
#include <nlohmann/json.hpp>

#include <algorithm>

#include "core/clock.h"
#include "core/retry.h"
#include "core/settings.h"
#include "net/http.h"
#include "speech/asr/backends.h"

namespace chalkbot {
namespace {

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFU));
}
void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v & 0xFFU));
  out.push_back(static_cast<char>((v >> 8) & 0xFFU));
}

// A canonical 44-byte-header PCM WAV, little-endian whatever the host.
std::string wav_bytes(const std::vector<Sample>& samples, int sample_rate) {
  const auto data_bytes = static_cast<std::uint32_t>(samples.size() * 2);
  const auto rate = static_cast<std::uint32_t>(sample_rate);
  std::string out;
  out.reserve(44 + data_bytes);
  out += "RIFF";
  put_u32(out, 36 + data_bytes);
  out += "WAVEfmt ";
  put_u32(out, 16);
  put_u16(out, 1);  // PCM
  put_u16(out, 1);  // mono
  put_u32(out, rate);
  put_u32(out, rate * 2);
  put_u16(out, 2);
  put_u16(out, 16);
  out += "data";
  put_u32(out, data_bytes);
  for (Sample s : samples) put_u16(out, static_cast<std::uint16_t>(s));
  return out;
}

class OpenAiAsrStream final : public AsrStream {
 public:
  OpenAiAsrStream(const AsrSettings& settings, std::string url, int sample_rate)
      : settings_(settings), url_(std::move(url)), sample_rate_(sample_rate) {}

  void accept(Samples samples) override {
    samples_.insert(samples_.end(), samples.begin(), samples.end());
  }

  // The caller waits in silence meanwhile, so the whole transcription, one retry of a transient
  // failure included, gets asr.timeout_ms.
  Status finish() override {
    text_.clear();
    if (samples_.empty()) return {};  // nothing said: no request
    const std::string wav = wav_bytes(samples_, sample_rate_);
    samples_.clear();
    RetryPolicy policy;
    policy.max_attempts = 2;
    policy.first_backoff = Millis(100);
    policy.budget = Millis(settings_.timeout_ms);
    policy.budget_key = "asr.timeout_ms";
    policy.shortest_attempt = Millis(300);
    Status done = retry(policy, CancelToken{}, [&](const RetryAttempt& attempt) -> Status {
      const auto left = std::chrono::duration_cast<Millis>(*attempt.deadline - SteadyClock::now());
      const HttpResponse response = http_perform(make_request(wav, left), BodySink{}, CancelToken{});
      if (response.success()) return read_reply(response.body);
      return http_error(response, redact_secrets(describe_failure(response), settings_.api_key));
    });
    if (done) return done;
    Error error = done.error();
    error.message = "transcription failed: " + error.message;
    return error;
  }

  std::string result() const override { return text_; }

 private:
  HttpRequest make_request(const std::string& wav, Millis time_left) const {
    HttpRequest request;
    request.method = "POST";
    request.url = url_;
    if (!settings_.api_key.empty()) {
      request.headers.push_back({"Authorization", "Bearer " + settings_.api_key});
    }
    request.parts.push_back({"file", wav, "audio.wav", "audio/wav"});
    request.parts.push_back({"model", settings_.model, "", ""});
    request.parts.push_back({"response_format", "json", "", ""});
    const int ms = std::max(1, static_cast<int>(time_left.count()));
    request.total_timeout_ms = ms;
    request.connect_timeout_ms = ms;
    return request;
  }

  Status read_reply(const std::string& body) {
    const auto parsed = nlohmann::json::parse(body, nullptr, false);
    if (!parsed.is_object() || !parsed.contains("text") || !parsed["text"].is_string()) {
      return make_error(ErrorKind::kMalformed,
                        "malformed reply (no \"text\"): " +
                            redact_secrets(body.substr(0, 120), settings_.api_key));
    }
    text_ = parsed["text"].get<std::string>();
    return {};
  }

  const AsrSettings& settings_;
  std::string url_;
  int sample_rate_;
  std::vector<Sample> samples_;
  std::string text_;
};

class OpenAiAsr final : public Asr {
 public:
  explicit OpenAiAsr(const AsrSettings& settings) : settings_(settings) {
    std::string base = settings.base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    url_ = base + "/audio/transcriptions";
  }

  Result<std::unique_ptr<AsrStream>> open(int sample_rate) override {
    if (sample_rate <= 0) return make_error("openai asr: bad sample rate");
    return std::unique_ptr<AsrStream>(
        std::make_unique<OpenAiAsrStream>(settings_, url_, sample_rate));
  }
  std::string name() const override { return "openai"; }

 private:
  const AsrSettings settings_;  // streams keep a reference: the engine outlives its streams
  std::string url_;
};

}  // namespace

Result<std::unique_ptr<Asr>> make_openai_asr(const AsrSettings& settings) {
  if (settings.base_url.empty()) return make_error("asr.base_url: empty (and no llm.base_url)");
  if (settings.model.empty()) return make_error("asr.model: empty");
  return std::unique_ptr<Asr>(std::make_unique<OpenAiAsr>(settings));
}

}  // namespace chalkbot
