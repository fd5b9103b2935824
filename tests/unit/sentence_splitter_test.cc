#include <gtest/gtest.h>

#include "llm/sentence_splitter.h"

namespace chalkbot {
namespace {

using Chunks = std::vector<std::string>;

// Feeds `text` in pieces of `every` bytes and returns all chunks (push results, then finish).
Chunks split(std::string_view text, std::size_t every = 1) {
  SentenceSplitter splitter;
  Chunks out;
  for (std::size_t i = 0; i < text.size(); i += every) {
    for (auto& c : splitter.push(text.substr(i, every))) out.push_back(std::move(c));
  }
  for (auto& c : splitter.finish()) out.push_back(std::move(c));
  return out;
}

TEST(SentenceSplitter, SplitsAtSentenceEnds) {
  EXPECT_EQ(split("Hello there. How are you? I am fine! Bye"),
            (Chunks{"Hello there.", "How are you?", "I am fine!", "Bye"}));
}

TEST(SentenceSplitter, SameResultForAnyDeltaSize) {
  const std::string text =
      "Dr. Smith met Mrs. Jones at 5 p.m. on St. Mark's street. Version 1.2.3 costs 3.14 dollars, "
      "e.g. cheap. Done.";
  const Chunks want = split(text, text.size());
  for (std::size_t every = 1; every < 12; ++every) EXPECT_EQ(split(text, every), want) << every;
}

TEST(SentenceSplitter, AbbreviationsDoNotEndSentences) {
  EXPECT_EQ(split("Mr. and Mrs. Smith met Dr. Who on St. James street. Then they left."),
            (Chunks{"Mr. and Mrs. Smith met Dr. Who on St. James street.", "Then they left."}));
  // (After a first sentence, so the early clause cut of the first chunk does not apply.)
  EXPECT_EQ(split("Hi. Bring fruit, e.g. apples, i.e. red ones, etc. and call me at 9 a.m. "
                  "today. Ok."),
            (Chunks{"Hi.",
                    "Bring fruit, e.g. apples, i.e. red ones, etc. and call me at 9 a.m. today.",
                    "Ok."}));
  EXPECT_EQ(split("It is cats vs. dogs today. Yes."),
            (Chunks{"It is cats vs. dogs today.", "Yes."}));
}

TEST(SentenceSplitter, NumbersAndVersionsStayWhole) {
  EXPECT_EQ(split("Pi is 3.14 roughly. Use version 1.2.3 now. Ok"),
            (Chunks{"Pi is 3.14 roughly.", "Use version 1.2.3 now.", "Ok"}));
}

TEST(SentenceSplitter, NumberedListMarkersAreNotSentences) {
  EXPECT_EQ(split("Steps:\n1. Open the door.\n2. Walk in.\n10. Sit down"),
            (Chunks{"Steps:", "1. Open the door.", "2. Walk in.", "10. Sit down"}));
  EXPECT_EQ(split("1. First item is long enough"), (Chunks{"1. First item is long enough"}));
}

TEST(SentenceSplitter, EllipsisEndsOnlyBeforeACapital) {
  EXPECT_EQ(split("Well... maybe not. Hmm... Okay then."),
            (Chunks{"Well... maybe not.", "Hmm...", "Okay then."}));
  EXPECT_EQ(split("Wait\xE2\x80\xA6 What now?"), (Chunks{"Wait...", "What now?"}));
}

TEST(SentenceSplitter, FirstChunkReleasedAtAClauseOnceLongEnough) {
  SentenceSplitter splitter;
  EXPECT_TRUE(splitter.push("Yes, ").empty());  // too short for a clause cut
  EXPECT_TRUE(splitter.push("I can help you with").empty());
  const auto first = splitter.push(" that, and more");
  ASSERT_EQ(first, (Chunks{"Yes, I can help you with that,"}));
  // Later chunks wait for a sentence end, not a clause.
  EXPECT_TRUE(splitter.push(" things, like this").empty());
  EXPECT_EQ(splitter.push(" one. Next"), (Chunks{"and more things, like this one."}));
  EXPECT_EQ(splitter.finish(), (Chunks{"Next"}));
}

TEST(SentenceSplitter, FirstSentenceReleasedBeforeTheNextWordArrives) {
  SentenceSplitter splitter;
  EXPECT_TRUE(splitter.push("Sure.").empty());  // "Sure.5" could still be a number
  EXPECT_EQ(splitter.push(" "), (Chunks{"Sure."}));
}

TEST(SentenceSplitter, NewlinesEndChunks) {
  EXPECT_EQ(split("First line\nSecond line\n\nThird"),
            (Chunks{"First line", "Second line", "Third"}));
}

TEST(SentenceSplitter, QuotesAndMarkdownClosersStayWithTheirSentence) {
  EXPECT_EQ(split("He said \"Stop.\" Then **we left.** Fine"),
            (Chunks{"He said \"Stop.\"", "Then we left.", "Fine"}));
}

TEST(SentenceSplitter, MarkdownIsStripped) {
  EXPECT_EQ(split("# Title\n- **Bold** item with `code`\n* another [link text](https://x.y/a.b) "
                  "here\n---\n"),
            (Chunks{"Title", "Bold item with code", "another link text here"}));
}

TEST(SentenceSplitter, LongRunWithoutPunctuationIsCut) {
  SentenceSplitter splitter(4, 40);
  std::string text;
  for (int i = 0; i < 20; ++i) text += "word ";
  const auto chunks = splitter.push(text);
  ASSERT_FALSE(chunks.empty());
  EXPECT_LE(chunks[0].size(), 40U);
}

TEST(CleanForSpeech, Basics) {
  EXPECT_EQ(clean_for_speech("**bold** and *it* and __u__ and ~~s~~"), "bold and it and u and s");
  EXPECT_EQ(clean_for_speech("![alt](img.png) [a](b)"), "alt a");
  EXPECT_EQ(clean_for_speech("snake_case stays"), "snake_case stays");
}

}  // namespace
}  // namespace chalkbot
