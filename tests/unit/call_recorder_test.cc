#include <gtest/gtest.h>
#include <sndfile.h>

#include <filesystem>
#include <vector>

#include "agent/call_recorder.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

// Reads a 2-channel WAV as interleaved samples.
std::vector<Sample> read_stereo(const std::string& path, int& channels) {
  SF_INFO info{};
  SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
  EXPECT_NE(file, nullptr);
  if (file == nullptr) return {};
  channels = info.channels;
  std::vector<Sample> samples(static_cast<std::size_t>(info.frames * info.channels));
  sf_readf_short(file, samples.data(), info.frames);
  sf_close(file);
  return samples;
}

TEST(CallRecorderTest, LinesTheBotUpWithTheCallerFrameByFrame) {
  const std::string dir = testing::make_temp_dir();
  const std::string path = dir + "/calls/c1.wav";
  {
    auto recorder = CallRecorder::open(path);
    ASSERT_TRUE(recorder.ok()) << recorder.error().message;
    const std::vector<Sample> caller(160, 100);
    const std::vector<Sample> bot(240, -200);  // a frame and a half of bot speech
    (*recorder)->heard(caller);                // the bot is quiet: silence on the right
    (*recorder)->queued(bot);
    (*recorder)->heard(caller);  // the bot's first 160 samples
    (*recorder)->heard(caller);  // its last 80, then silence
    (*recorder)->queued(bot);
    (*recorder)->cleared();      // barge-in: what was queued is never played
    (*recorder)->heard(caller);
  }
  int channels = 0;
  const auto samples = read_stereo(path, channels);
  ASSERT_EQ(channels, 2);
  ASSERT_EQ(samples.size(), 2U * 4 * 160);
  const auto left = [&](std::size_t i) { return samples[2 * i]; };
  const auto right = [&](std::size_t i) { return samples[2 * i + 1]; };
  for (std::size_t i = 0; i < 640; ++i) EXPECT_EQ(left(i), 100) << i;
  for (std::size_t i = 0; i < 160; ++i) EXPECT_EQ(right(i), 0) << i;
  for (std::size_t i = 160; i < 400; ++i) EXPECT_EQ(right(i), -200) << i;
  for (std::size_t i = 400; i < 640; ++i) EXPECT_EQ(right(i), 0) << i;
  std::filesystem::remove_all(dir);
}

TEST(CallRecorderTest, AnUnwritablePathIsAClearError) {
  auto recorder = CallRecorder::open("/proc/no/such/dir/c1.wav");
  ASSERT_FALSE(recorder.ok());
  EXPECT_NE(recorder.error().message.find("recording"), std::string::npos);
}

}  // namespace
}  // namespace chalkbot
