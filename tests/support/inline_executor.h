#pragma once
// A compute pool for unit tests: posted jobs wait until the test runs them (on its own thread),
// so a test decides exactly when a decode or a synthesis "finishes".
#include "core/queued_executor.h"

namespace chalkbot::testing {

using InlineExecutor = QueuedExecutor;

}  // namespace chalkbot::testing
