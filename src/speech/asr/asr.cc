#include "speech/asr/asr.h"

namespace chalkbot {

Result<std::string> transcribe(Asr& asr, const Audio& audio) {
  auto stream = asr.open(audio.sample_rate);
  if (!stream) return stream.error();
  (*stream)->accept(audio.samples);
  if (auto finished = (*stream)->finish(); !finished) return finished.error();
  return (*stream)->result();
}

}  // namespace chalkbot
