#include <gtest/gtest.h>

#include <fstream>

#include "speech/asr/moonshine_tokens.h"
#include "support/test_support.h"

namespace chalkbot {
namespace {

// A small table in the real one's shape: control pieces, byte pieces, "▁" word starts.
MoonshineTokens table() {
  std::vector<std::string> pieces{"<unk>", "<s>", "</s>", "<0xE2>", "<0x82>", "<0xAC>", "<0xFF>",
                                  "\xE2\x96\x81" "Hello", "\xE2\x96\x81" "world", ".",
                                  "\xE2\x96\x81" "5", "\xE2\x96\x81"};
  return MoonshineTokens(std::move(pieces));
}

TEST(MoonshineTokens, WordStartsBecomeSpacesWithoutALeadingOne) {
  const std::vector<std::int64_t> ids{1, 7, 8, 9};
  EXPECT_EQ(table().decode(ids), "Hello world.");
}

TEST(MoonshineTokens, BytePiecesJoinIntoOneCharacter) {
  const std::vector<std::int64_t> ids{10, 11, 3, 4, 5};  // ▁5 ▁ € (three byte pieces)
  EXPECT_EQ(table().decode(ids), "5 \xE2\x82\xAC");
}

TEST(MoonshineTokens, InvalidBytesControlPiecesAndUnknownIdsAreSafe) {
  const std::vector<std::int64_t> ids{7, 6, 0, 2, 99, -1, 3, 8};  // ▁Hello 0xFF ... 0xE2 ▁world
  EXPECT_EQ(table().decode(ids), "Hello\xEF\xBF\xBD\xEF\xBF\xBD world");
  EXPECT_EQ(table().decode({}), "");
}

TEST(MoonshineTokens, LoadRejectsAFileThatIsNotTheTable) {
  const std::string dir = testing::make_temp_dir();
  std::ofstream(dir + "/tokens.txt") << "<unk>\n<s>\n</s>\n";
  auto loaded = MoonshineTokens::load(dir + "/tokens.txt");
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find(dir + "/tokens.txt"), std::string::npos);
  EXPECT_FALSE(MoonshineTokens::load(dir + "/missing.txt").ok());
}

}  // namespace
}  // namespace chalkbot
