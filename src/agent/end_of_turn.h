#pragma once
// Whether the caller has finished their turn, judged from the words so far: a pause after "and",
// "the" or "um" is a breath, not the end of a question.
#include <string_view>

namespace chalkbot {

// True when the last word of `words` (a partial transcript) is one a finished sentence rarely
// ends with (a conjunction, article, preposition, possessive or filler), when the words end with
// a comma, or when they are only a greeting or fillers ("hello", "hi there", "um, so"): the
// question is still to come.
bool sounds_unfinished(std::string_view words);

// True when `words` end as a question does: a question mark (Moonshine writes punctuation) after
// words that do not sound unfinished. The turn can end at a shorter pause. Engines that write no
// punctuation (pocketsphinx) never sound finished.
bool sounds_finished(std::string_view words);

}  // namespace chalkbot
