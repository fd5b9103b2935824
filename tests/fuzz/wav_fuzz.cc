// The WAV reader (libsndfile underneath) on arbitrary files, read plain and resampled.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "media/wav.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // An in-memory file: read_wav takes a path.
  const int fd = memfd_create("wav_fuzz", 0);
  if (fd < 0) return 0;
  if (write(fd, data, size) == static_cast<ssize_t>(size)) {
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    auto audio = chalkbot::read_wav(path, size % 2 == 0 ? 0 : 8000);
    if (audio && audio->sample_rate <= 0) __builtin_trap();
  }
  close(fd);
  return 0;
}
