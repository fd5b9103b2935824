#include <gtest/gtest.h>

#include "agent/end_of_turn.h"

namespace chalkbot {
namespace {

TEST(EndOfTurn, QuestionsThatEndOnAContentWordAreFinished) {
  EXPECT_FALSE(sounds_unfinished("what is the capital of france"));
  EXPECT_FALSE(sounds_unfinished("how far away is the moon"));
  EXPECT_FALSE(sounds_unfinished("thank you goodbye."));
}

TEST(EndOfTurn, ConjunctionsArticlesAndFillersAreUnfinished) {
  EXPECT_TRUE(sounds_unfinished("i would like to book a table and"));
  EXPECT_TRUE(sounds_unfinished("what is the"));
  EXPECT_TRUE(sounds_unfinished("can you tell me about"));
  EXPECT_TRUE(sounds_unfinished("i need um"));
  EXPECT_TRUE(sounds_unfinished("Send it to MY "));  // case and trailing space do not matter
  EXPECT_TRUE(sounds_unfinished("He was not, "));    // a clause heard cut off
}

TEST(EndOfTurn, AGreetingOrFillersAloneAreNotATurn) {
  EXPECT_TRUE(sounds_unfinished("Hello."));
  EXPECT_TRUE(sounds_unfinished("hi there"));
  EXPECT_TRUE(sounds_unfinished("Good morning!"));
  EXPECT_TRUE(sounds_unfinished("um, well"));
  // ... but a greeting with a question, or a short answer, is.
  EXPECT_FALSE(sounds_unfinished("hello, what time do you open"));
  EXPECT_FALSE(sounds_unfinished("hi, is anyone there?"));
  EXPECT_FALSE(sounds_unfinished("yes"));
  EXPECT_FALSE(sounds_unfinished("okay."));
  EXPECT_FALSE(sounds_unfinished("I'm well"));
}

TEST(EndOfTurn, NothingRecognisedIsNoReasonToWait) {
  EXPECT_FALSE(sounds_unfinished(""));
  EXPECT_FALSE(sounds_unfinished("  ... "));
}

}  // namespace
}  // namespace chalkbot

namespace chalkbot {
namespace {

TEST(EndOfTurn, AQuestionMarkSoundsFinished) {
  EXPECT_TRUE(sounds_finished("What time do you open on Sunday?"));
  EXPECT_TRUE(sounds_finished("Is it far? "));
  EXPECT_TRUE(sounds_finished("Hello, is anyone there?"));
}

TEST(EndOfTurn, NoQuestionMarkOrUnfinishedWordsAreNotFinished) {
  EXPECT_FALSE(sounds_finished("what time do you open on sunday"));  // no punctuation: can't tell
  EXPECT_FALSE(sounds_finished("I would like to book a table."));
  EXPECT_FALSE(sounds_finished("Hello?"));           // a greeting alone: the question is to come
  EXPECT_FALSE(sounds_finished("Can you tell me about?"));
  EXPECT_FALSE(sounds_finished(""));
  EXPECT_FALSE(sounds_finished("?"));
}

}  // namespace
}  // namespace chalkbot
