#include "media/opus_codec.h"

#include <opus.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace chalkbot {

struct OpusFrameEncoder::State {
  OpusEncoder* opus;
};
struct OpusFrameDecoder::State {
  OpusDecoder* opus;
};

void OpusFrameEncoder::Free::operator()(State* state) const {
  opus_encoder_destroy(state->opus);
  delete state;
}
void OpusFrameDecoder::Free::operator()(State* state) const {
  opus_decoder_destroy(state->opus);
  delete state;
}

Result<OpusFrameEncoder> OpusFrameEncoder::create(const OpusEncoderSettings& settings) {
  int error = OPUS_OK;
  OpusEncoder* opus = opus_encoder_create(OpusRtp::kPcmRate, 1, OPUS_APPLICATION_VOIP, &error);
  if (opus == nullptr || error != OPUS_OK) {
    return make_error(std::string("opus: encoder: ") + opus_strerror(error));
  }
  OpusFrameEncoder encoder(new State{opus});
  const int loss = std::clamp(settings.expected_loss_pct, 0, 100);
  if (opus_encoder_ctl(opus, OPUS_SET_BITRATE(settings.bitrate)) != OPUS_OK ||
      opus_encoder_ctl(opus, OPUS_SET_INBAND_FEC(loss > 0 ? 1 : 0)) != OPUS_OK ||
      opus_encoder_ctl(opus, OPUS_SET_PACKET_LOSS_PERC(loss)) != OPUS_OK ||
      opus_encoder_ctl(opus, OPUS_SET_DTX(settings.dtx ? 1 : 0)) != OPUS_OK ||
      opus_encoder_ctl(opus, OPUS_SET_COMPLEXITY(settings.complexity)) != OPUS_OK ||
      opus_encoder_ctl(opus, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)) != OPUS_OK) {
    return make_error("opus: encoder settings refused (bitrate " +
                      std::to_string(settings.bitrate) + ")");
  }
  return encoder;
}

std::optional<std::size_t> OpusFrameEncoder::encode(Samples pcm_16k, std::span<std::uint8_t> out) {
  if (pcm_16k.size() != OpusRtp::kSamplesPer20Ms || out.empty()) return std::nullopt;
  const opus_int32 bytes =
      opus_encode(state_->opus, pcm_16k.data(), static_cast<int>(pcm_16k.size()), out.data(),
                  static_cast<opus_int32>(std::min<std::size_t>(out.size(), 1275)));
  if (bytes < 0) return std::nullopt;
  return static_cast<std::size_t>(bytes);
}

Result<OpusFrameDecoder> OpusFrameDecoder::create() {
  int error = OPUS_OK;
  OpusDecoder* opus = opus_decoder_create(OpusRtp::kPcmRate, 1, &error);
  if (opus == nullptr || error != OPUS_OK) {
    return make_error(std::string("opus: decoder: ") + opus_strerror(error));
  }
  return OpusFrameDecoder(new State{opus});
}

std::optional<std::size_t> OpusFrameDecoder::decode(std::span<const std::uint8_t> payload,
                                                     std::span<Sample> out) {
  if (payload.empty()) return conceal({}, out);
  // libopus would write up to its frame_size argument: check the packet's length first, so a
  // packet longer than `out` is refused whole rather than cut.
  const int samples = opus_packet_get_nb_samples(
      payload.data(), static_cast<opus_int32>(payload.size()), OpusRtp::kPcmRate);
  if (samples <= 0 || static_cast<std::size_t>(samples) > out.size()) return std::nullopt;
  const int written = opus_decode(state_->opus, payload.data(),
                                  static_cast<opus_int32>(payload.size()), out.data(), samples, 0);
  if (written < 0) return std::nullopt;
  return static_cast<std::size_t>(written);
}

std::optional<std::size_t> OpusFrameDecoder::conceal(std::span<const std::uint8_t> next,
                                                     std::span<Sample> out) {
  constexpr int kFrame = static_cast<int>(OpusRtp::kSamplesPer20Ms);
  if (out.size() < OpusRtp::kSamplesPer20Ms) return std::nullopt;
  if (!next.empty() && opus_packet_get_nb_samples(next.data(), static_cast<opus_int32>(next.size()),
                                                  OpusRtp::kPcmRate) <= 0) {
    return std::nullopt;
  }
  // With decode_fec = 1 libopus reads next's FEC data for the frame before it, or conceals when
  // next carries none; with no packet at all it conceals.
  const int written = next.empty()
      ? opus_decode(state_->opus, nullptr, 0, out.data(), kFrame, 0)
      : opus_decode(state_->opus, next.data(), static_cast<opus_int32>(next.size()), out.data(),
                    kFrame, 1);
  if (written < 0) return std::nullopt;
  return static_cast<std::size_t>(written);
}

Result<Audio> through_opus(const Audio& audio_16k, const OpusEncoderSettings& settings,
                           int lose_every) {
  if (audio_16k.sample_rate != OpusRtp::kPcmRate) return make_error("opus: audio is not 16 kHz");
  auto encoder = OpusFrameEncoder::create(settings);
  if (!encoder) return encoder.error();
  auto decoder = OpusFrameDecoder::create();
  if (!decoder) return decoder.error();
  constexpr std::size_t kFrame = OpusRtp::kSamplesPer20Ms;
  std::vector<std::vector<std::uint8_t>> packets;
  std::array<Sample, kFrame> frame{};
  for (std::size_t at = 0; at < audio_16k.samples.size(); at += kFrame) {
    const std::size_t n = std::min(kFrame, audio_16k.samples.size() - at);
    std::fill(frame.begin(), frame.end(), Sample{0});
    std::copy_n(audio_16k.samples.begin() + static_cast<std::ptrdiff_t>(at), n, frame.begin());
    std::vector<std::uint8_t> packet(1275);
    const auto bytes = encoder->encode(frame, packet);
    if (!bytes) return make_error("opus: encode failed");
    packet.resize(*bytes);
    packets.push_back(std::move(packet));
  }
  Audio out{OpusRtp::kPcmRate, {}};
  std::array<Sample, OpusRtp::kMaxPacketSamples> pcm{};
  for (std::size_t i = 0; i < packets.size(); ++i) {
    const bool lost = lose_every > 0 && (i + 1) % static_cast<std::size_t>(lose_every) == 0;
    const std::span<const std::uint8_t> next =
        i + 1 < packets.size() ? std::span<const std::uint8_t>(packets[i + 1])
                               : std::span<const std::uint8_t>();
    const auto written = lost ? decoder->conceal(next, pcm) : decoder->decode(packets[i], pcm);
    if (!written) return make_error("opus: decode failed");
    out.samples.insert(out.samples.end(), pcm.begin(),
                       pcm.begin() + static_cast<std::ptrdiff_t>(*written));
  }
  out.samples.resize(audio_16k.samples.size());
  return out;
}

}  // namespace chalkbot
