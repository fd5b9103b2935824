#pragma once
// Column lists shared by the store backends (same logical schema in SQLite and PostgreSQL).
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "store/conversation_store.h"

namespace chalkbot::store_columns {

// StageTimes fields in column order (the turns table's stage columns follow `interrupted`).
using StageField = std::optional<std::int64_t> StageTimes::*;
inline constexpr std::array<StageField, 9> kStageFields = {
    &StageTimes::speech_start,    &StageTimes::speech_end,     &StageTimes::endpoint,
    &StageTimes::asr_done,        &StageTimes::llm_first_token, &StageTimes::first_sentence,
    &StageTimes::tts_first_audio, &StageTimes::first_rtp_out,   &StageTimes::done,
};

inline constexpr std::string_view kTurnColumns =
    "call_id, idx, role, text, interrupted, speech_start_ms, speech_end_ms, endpoint_ms, "
    "asr_done_ms, llm_first_token_ms, first_sentence_ms, tts_first_audio_ms, first_rtp_out_ms, "
    "done_ms";

// ToolCallRecord fields in this order.
inline constexpr const char* kToolCallColumns =
    "call_id, idx, name, arguments, result, ok, started_ms, duration_ms";

// CallRecord fields in this order: id, from, to, started_ms, ended_ms, end_reason, node.
inline constexpr std::string_view kCallColumns =
    "id, from_uri, to_uri, started_ms, ended_ms, end_reason, node";

}  // namespace chalkbot::store_columns
