#include "media/wav.h"

#include <sndfile.h>

#include <memory>
#include <vector>

#include "media/resampler.h"

namespace chalkbot {
namespace {

struct SndfileCloser {
  void operator()(SNDFILE* file) const { sf_close(file); }
};
using SndfilePtr = std::unique_ptr<SNDFILE, SndfileCloser>;

}  // namespace

namespace {

// Every channel of `path`, interleaved, at the file's rate; `channels` is set to their count.
Result<Audio> read_interleaved(const std::string& path, std::size_t& channels) {
  SF_INFO info{};
  SndfilePtr file(sf_open(path.c_str(), SFM_READ, &info));
  if (!file) return make_error(path + ": not a readable audio file (" + sf_strerror(nullptr) + ")");
  if ((info.format & SF_FORMAT_TYPEMASK) != SF_FORMAT_WAV &&
      (info.format & SF_FORMAT_TYPEMASK) != SF_FORMAT_WAVEX) {
    return make_error(path + ": not a WAV file");
  }
  if (info.channels < 1 || info.channels > 8) {
    return make_error(path + ": unsupported channel count " + std::to_string(info.channels));
  }
  if (info.samplerate < 4000 || info.samplerate > 192000) {
    return make_error(path + ": unsupported sample rate " + std::to_string(info.samplerate));
  }
  if (info.frames <= 0) return make_error(path + ": the WAV file holds no audio");

  channels = static_cast<std::size_t>(info.channels);
  Audio interleaved{info.samplerate, {}};
  interleaved.samples.resize(static_cast<std::size_t>(info.frames) * channels);
  const sf_count_t got = sf_readf_short(file.get(), interleaved.samples.data(), info.frames);
  if (got <= 0) return make_error(path + ": could not read audio: " + sf_strerror(file.get()));
  interleaved.samples.resize(static_cast<std::size_t>(got) * channels);
  return interleaved;
}

}  // namespace

Result<Audio> read_wav(const std::string& path, int want_rate) {
  std::size_t channels = 1;
  auto interleaved = read_interleaved(path, channels);
  if (!interleaved) return interleaved.error();
  Audio audio{interleaved->sample_rate, {}};
  audio.samples.resize(interleaved->samples.size() / channels);
  for (std::size_t frame = 0; frame < audio.samples.size(); ++frame) {
    int sum = 0;  // down-mix: the average of all channels
    for (std::size_t ch = 0; ch < channels; ++ch)
      sum += interleaved->samples[frame * channels + ch];
    audio.samples[frame] = static_cast<Sample>(sum / static_cast<int>(channels));
  }
  if (want_rate > 0 && want_rate != audio.sample_rate) return resample(audio, want_rate);
  return audio;
}

Result<Audio> read_wav_channel(const std::string& path, int channel, int want_rate) {
  std::size_t channels = 1;
  auto interleaved = read_interleaved(path, channels);
  if (!interleaved) return interleaved.error();
  if (channel < 0 || static_cast<std::size_t>(channel) >= channels) {
    return make_error(path + ": has no channel " + std::to_string(channel) + " (it has " +
                      std::to_string(channels) + ")");
  }
  Audio audio{interleaved->sample_rate, {}};
  audio.samples.resize(interleaved->samples.size() / channels);
  for (std::size_t frame = 0; frame < audio.samples.size(); ++frame) {
    audio.samples[frame] =
        interleaved->samples[frame * channels + static_cast<std::size_t>(channel)];
  }
  if (want_rate > 0 && want_rate != audio.sample_rate) return resample(audio, want_rate);
  return audio;
}

Status write_wav(const std::string& path, const Audio& audio) {
  SF_INFO info{};
  info.samplerate = audio.sample_rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SndfilePtr file(sf_open(path.c_str(), SFM_WRITE, &info));
  if (!file) return make_error(path + ": cannot write WAV: " + sf_strerror(nullptr));
  const auto count = static_cast<sf_count_t>(audio.samples.size());
  if (sf_writef_short(file.get(), audio.samples.data(), count) != count) {
    return make_error(path + ": short write: " + sf_strerror(file.get()));
  }
  return {};
}

}  // namespace chalkbot
