#pragma once
// WAV files through libsndfile. Reading accepts any rate, channel count and common sample format
// and returns mono 16-bit at the file's rate (or converted to `want_rate`); anything that is not
// a readable WAV is a clear error naming the file.
#include <string>

#include "core/audio.h"
#include "core/result.h"

namespace chalkbot {

Result<Audio> read_wav(const std::string& path, int want_rate = 0);
// One channel of `path` (0 = the left, as is: no down-mix): a call recording's caller side.
Result<Audio> read_wav_channel(const std::string& path, int channel, int want_rate = 0);
Status write_wav(const std::string& path, const Audio& audio);

}  // namespace chalkbot
