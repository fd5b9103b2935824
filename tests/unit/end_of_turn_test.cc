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
