#pragma once
// Whether the caller has finished their turn, judged from the words so far: a pause after "and",
// "the" or "um" is a breath, not the end of a question.
#include <string_view>

namespace chalkbot {

// True when the last word of `words` (a partial transcript) is one a finished sentence rarely
// ends with (a conjunction, article, preposition, possessive or filler), or when the words are
// only a greeting or fillers ("hello", "hi there", "um, so"): the question is still to come.
bool sounds_unfinished(std::string_view words);

}  // namespace chalkbot
