#pragma once
// Plain settings structs, one per section. Their defaults, help texts, file keys and environment
// names are declared once, in config.cc; nothing else sets defaults.
#include <string>

namespace chalkbot {

struct LlmSettings {
  std::string base_url;  // OpenAI-compatible API root, e.g. https://api.openai.com/v1
  std::string api_key;   // secret: from OPENAI_API_KEY or the environment only, never logged
  std::string model;
  std::string system_prompt;
  double temperature = 0;
  int max_tokens = 0;
  int connect_timeout_ms = 0;
  int first_token_timeout_ms = 0;
  int total_timeout_ms = 0;
  int max_retries = 0;
  int retry_budget_ms = 0;  // total time retries may take, Retry-After waits included
};

struct AsrSettings {
  std::string provider;   // pocketsphinx | openai
  std::string model_dir;  // pocketsphinx acoustic model, dictionary and LM
  std::string feat_params;  // telephone feature params shipped with Chalkbot
  int pool_size = 0;      // pocketsphinx decoders (~100 MB each), shared by all calls
  std::string base_url;   // openai: empty means llm.base_url
  std::string api_key;    // openai: empty means llm.api_key
  std::string model;      // openai: e.g. whisper-1
  int timeout_ms = 0;
};

struct TtsSettings {
  std::string provider;  // flite | espeak | openai
  std::string voice;     // flite: slt; espeak: a voice name such as en-us; openai: alloy ...
  std::string base_url;  // openai: empty means llm.base_url
  std::string api_key;   // openai: empty means llm.api_key
  std::string model;     // openai: e.g. tts-1
  int timeout_ms = 0;
};

struct VadSettings {
  int mode = 0;                 // WebRTC VAD aggressiveness 0..3
  int speech_start_ms = 0;      // voiced audio needed before an utterance starts
  int end_silence_ms = 0;       // silence that ends an utterance
  int no_input_timeout_ms = 0;  // nobody spoke at all
  int max_utterance_ms = 0;     // an utterance is cut here
};

struct StoreSettings {
  std::string backend;  // sqlite
  std::string path;     // sqlite database file
  int memory_budget_chars = 0;  // how much of the call's past turns is sent to the model
};

struct LogSettings {
  std::string level;
};

struct Settings {
  LlmSettings llm;
  AsrSettings asr;
  TtsSettings tts;
  VadSettings vad;
  StoreSettings store;
  LogSettings log;
};

}  // namespace chalkbot
