#include "media/resampler.h"

#include <speex/speex_resampler.h>

#include <string>

namespace chalkbot {

struct Resampler::State {
  SpeexResamplerState* speex;
};

void Resampler::StateDeleter::operator()(State* state) const {
  speex_resampler_destroy(state->speex);
  delete state;
}

Resampler::Resampler(int from_rate, int to_rate, State* state)
    : from_rate_(from_rate), to_rate_(to_rate), state_(state) {}

Result<Resampler> Resampler::create(int from_rate, int to_rate, int quality) {
  if (from_rate <= 0 || to_rate <= 0 || from_rate > 384000 || to_rate > 384000) {
    return make_error("unsupported sample rate conversion " + std::to_string(from_rate) + " -> " +
                      std::to_string(to_rate) + " Hz");
  }
  if (from_rate == to_rate) return Resampler(from_rate, to_rate, nullptr);
  int err = 0;
  SpeexResamplerState* speex =
      speex_resampler_init(1, static_cast<spx_uint32_t>(from_rate),
                           static_cast<spx_uint32_t>(to_rate), quality, &err);
  if (speex == nullptr || err != RESAMPLER_ERR_SUCCESS) {
    return make_error(std::string("speexdsp resampler init failed: ") +
                      speex_resampler_strerror(err));
  }
  speex_resampler_skip_zeros(speex);  // no leading silence from the filter delay
  return Resampler(from_rate, to_rate, new State{speex});
}

std::vector<Sample> Resampler::process(Samples in) {
  if (!state_) return {in.begin(), in.end()};
  std::vector<Sample> out(in.size() * static_cast<std::size_t>(to_rate_) /
                              static_cast<std::size_t>(from_rate_) +
                          64);
  std::size_t consumed = 0;
  std::size_t produced = 0;
  while (consumed < in.size()) {
    if (out.size() - produced < 64) out.resize(out.size() * 2);
    auto in_len = static_cast<spx_uint32_t>(in.size() - consumed);
    auto out_len = static_cast<spx_uint32_t>(out.size() - produced);
    speex_resampler_process_int(state_->speex, 0, in.data() + consumed, &in_len,
                                out.data() + produced, &out_len);
    consumed += in_len;
    produced += out_len;
    if (in_len == 0 && out_len == 0) break;
  }
  out.resize(produced);
  return out;
}

std::vector<Sample> Resampler::flush() {
  if (!state_) return {};
  // Feeding the filter's input latency in zeros pushes out the samples still inside it.
  const auto latency = static_cast<std::size_t>(speex_resampler_get_input_latency(state_->speex));
  const std::vector<Sample> zeros(latency, 0);
  return process(zeros);
}

Result<std::optional<Resampler>> resampler_for_stream(int from_rate, int to_rate) {
  if (from_rate <= 0) return make_error("invalid sample rate " + std::to_string(from_rate));
  if (from_rate == to_rate) return std::optional<Resampler>();
  auto created = Resampler::create(from_rate, to_rate);
  if (!created) return created.error();
  return std::optional<Resampler>(std::move(*created));
}

Result<Audio> resample(const Audio& audio, int to_rate) {
  if (audio.sample_rate == to_rate) return audio;
  auto resampler = Resampler::create(audio.sample_rate, to_rate);
  if (!resampler) return resampler.error();
  Audio out{to_rate, resampler->process(audio.samples)};
  auto tail = resampler->flush();
  out.samples.insert(out.samples.end(), tail.begin(), tail.end());
  return out;
}

}  // namespace chalkbot
