#include <gtest/gtest.h>

#include "speech/wer.h"

namespace chalkbot {
namespace {

TEST(Wer, NormalisesCasePunctuationAndMarkup) {
  EXPECT_EQ(normalise_words("<s> Hello, World!  it's </s> (utt-01)"),
            (std::vector<std::string>{"hello", "world", "it's"}));
  EXPECT_TRUE(normalise_words("  ... ").empty());
  // Written and spoken forms of the same words.
  EXPECT_EQ(normalise_words("Mr. Dashwood, ill-disposed (utt-02)"),
            (std::vector<std::string>{"mister", "dashwood", "ill", "disposed"}));
}

TEST(Wer, CountsSubstitutionsDeletionsInsertions) {
  EXPECT_EQ(word_errors("a b c d", "a b c d").errors, 0U);
  EXPECT_EQ(word_errors("a b c d", "a x c d").errors, 1U);      // substitution
  EXPECT_EQ(word_errors("a b c d", "a c d").errors, 1U);        // deletion
  EXPECT_EQ(word_errors("a b c d", "a b b c d").errors, 1U);    // insertion
  EXPECT_EQ(word_errors("a b c d", "").errors, 4U);
  EXPECT_EQ(word_errors("a b c d", "d c b a").errors, 4U);
  EXPECT_DOUBLE_EQ(word_error_rate("The cat sat.", "the cat sat"), 0.0);
  EXPECT_DOUBLE_EQ(word_error_rate("one two three four", "one two"), 0.5);
}

TEST(Wer, EmptyReference) {
  EXPECT_DOUBLE_EQ(word_error_rate("", ""), 0.0);
  EXPECT_DOUBLE_EQ(word_error_rate("", "extra words"), 2.0);
}

TEST(Wer, AccumulatesOverFiles) {
  WordErrors total;
  total += word_errors("a b", "a c");
  total += word_errors("a b c d e f", "a b c d e f");
  EXPECT_EQ(total.errors, 1U);
  EXPECT_EQ(total.reference_words, 8U);
  EXPECT_DOUBLE_EQ(total.rate(), 0.125);
}

}  // namespace
}  // namespace chalkbot
