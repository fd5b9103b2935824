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
  int stall_timeout_ms = 0;  // longest gap in a streaming answer
  int max_retries = 0;
  int retry_budget_ms = 0;  // longest wait for the first token: all attempts and retry waits
  int prefetch_pause_ms = 0;  // calls: ask the model at a pause this long (0 = at the endpoint)
};

struct AsrSettings {
  std::string provider;   // moonshine | pocketsphinx | openai | none
  // moonshine: tiny/ and base/ models and tokens.txt; pocketsphinx: acoustic model, dictionary
  // and LM. load_settings() fills in the provider's own when the file leaves it empty.
  std::string model_dir;
  std::string feat_params;  // telephone feature params shipped with Chalkbot
  // pocketsphinx: decoders (~100 MB each); moonshine: decodes running at once. Shared by all calls.
  int pool_size = 0;
  bool second_pass = false;  // pocketsphinx: rescore each utterance at its end (slower answers)
  std::string base_url;   // openai: empty means llm.base_url
  std::string api_key;    // openai: empty means llm.api_key
  std::string model;      // moonshine: tiny | base; openai: e.g. whisper-1 (filled in if empty)
  std::string onnxruntime_library;  // moonshine, silero VAD: libonnxruntime.so, loaded at start-up
  int threads = 0;        // moonshine: threads of one decode
  int decode_ahead_ms = 0;  // moonshine: decode during long speech this often (0 = at pauses only)
  int timeout_ms = 0;
};

struct TtsSettings {
  std::string provider;  // flite | espeak | openai
  std::string voice;     // flite: slt; espeak: a voice name such as en-us; openai: alloy ...
  std::string base_url;  // openai: empty means llm.base_url
  std::string api_key;   // openai: empty means llm.api_key
  std::string model;     // openai: e.g. tts-1
  int timeout_ms = 0;
  int stall_timeout_ms = 0;  // openai: longest wait for the next audio bytes
};

struct VadSettings {
  std::string provider;         // webrtc | silero
  int mode = 0;                 // webrtc: aggressiveness 0..3
  double threshold = 0;         // silero: speech probability that starts speech
  std::string model_file;       // silero: silero_vad.onnx
  // silero: not a key of its own but asr.onnxruntime_library, copied by load_settings() (a
  // process has one ONNX Runtime).
  std::string onnxruntime_library;
  int speech_start_ms = 0;      // voiced audio needed before an utterance starts
  int end_silence_ms = 0;       // silence that ends an utterance
  int unfinished_silence_ms = 0;  // the same when its words so far sound unfinished
  int finished_silence_ms = 0;    // the same when they sound finished (a question); 0 = never
  int continue_turn_ms = 0;  // speech resuming this soon after a turn ended continues that turn
  int no_input_timeout_ms = 0;  // nobody spoke at all
  int max_utterance_ms = 0;     // an utterance is cut here
};

struct StoreSettings {
  std::string backend;  // sqlite | postgres | dynamodb
  std::string path;     // sqlite database file
  std::string rejected_path;  // writes the store refused, as JSON lines ('' = beside the store)
  int memory_budget_chars = 0;  // how much of the call's past turns is sent to the model
  std::string postgres_url;     // secret: environment only (CHALKBOT_STORE_POSTGRES_URL)
  int postgres_pool_size = 0;   // connections per node
  int postgres_retry_ms = 0;    // how long an operation retries transient errors
  // dynamodb: a table in LangChain's DynamoDBChatMessageHistory shape (key SessionId, History).
  // Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN only.
  std::string dynamodb_table;
  std::string dynamodb_region;    // '' = AWS_REGION, then AWS_DEFAULT_REGION
  std::string dynamodb_endpoint;  // '' = https://dynamodb.<region>.amazonaws.com
  int dynamodb_ttl_s = 0;         // 0 = items never expire
  std::string dynamodb_ttl_attribute;
  int dynamodb_timeout_ms = 0;
};

// Memory across calls: after a call the model summarises it, stored under the caller's identity;
// the caller's next calls start with the latest summaries.
struct MemorySettings {
  bool across_calls = false;
  int summaries_per_call = 0;  // how many of the caller's latest summaries a call starts with
  int retention_days = 0;      // summaries older than this are erased
  std::string summary_prompt;  // the instruction the model summarises a call's turns under
  std::string forget_phrases;  // comma list: the caller saying one erases their summaries
  std::string forget_message;  // said once they are erased
};

// Several nodes behind one SIP load balancer, sharing one store.
struct ClusterSettings {
  std::string node_id;  // stored with each call ('' = hostname:sip_port, chosen at serve start)
};

struct SipSettings {
  std::string bind_address;    // safe default: loopback only
  int port = 0;
  std::string transports;      // comma list: udp,tcp
  std::string tls_listen;      // host:port of the SIP over TLS listener, or "off"
  std::string tls_certificate;  // PEM: our certificate (chain), for tls_listen
  std::string tls_private_key;  // PEM: its private key (unencrypted)
  std::string tls_ca_file;      // PEM: CAs a trunk's certificate must chain to ('' = no check)
  std::string public_address;  // address put in SDP and Contact ('' = bind_address)
  int max_calls = 0;           // further INVITEs get 503 + Retry-After
  int retry_after_s = 0;
  int answer_delay_ms = 0;     // ring (180) this long before answering
  std::string allow_networks;  // comma list of CIDRs allowed to call; others get 403
  std::string allow_callers;   // comma list of caller URI substrings ('' = any caller)
  double rate_limit_per_s = 0; // out-of-dialog requests per source address (0 = no limit)
  int rate_limit_burst = 0;
  std::string scanner_user_agents;  // comma list of User-Agent fragments refused at once
  std::string auth_user;       // inbound digest auth ('' = off)
  std::string auth_password;   // secret: environment only
  std::string auth_realm;
  int session_expires_s = 0;   // RFC 4028 session timer (0 = off)
  int timer_t1_ms = 0;         // RFC 3261 T1 (round-trip estimate); 64*T1 is the ACK wait
  int timer_t1x64_ms = 0;      // transaction lifetime and ACK wait; 0 = 64 * timer_t1_ms
  int timer_t2_ms = 0;         // RFC 3261 T2 (longest retransmit interval)
  int timer_t4_ms = 0;         // RFC 3261 T4 (longest time a message stays in the network)
  std::string register_uri;    // registrar of a SIP trunk ('' = do not register)
  std::string register_user;
  std::string register_password;  // secret: environment only
  int register_expires_s = 0;
  std::string user_agent;
};

struct MediaSettings {
  int rtp_port_min = 0;  // RTP uses even ports, RTCP the next odd one
  int rtp_port_max = 0;
  std::string codecs;    // preference order of opus, G722, PCMU, PCMA
  int jitter_min_ms = 0;  // adaptive jitter buffer bounds
  int jitter_max_ms = 0;
  int inactivity_timeout_s = 0;  // no RTP for this long ends the call
  std::string srtp;      // SDES-SRTP on incoming calls: off | optional | required
};

struct FlowSettings {
  std::string greeting;
  std::string reprompt;        // said when the caller says nothing
  std::string farewell;        // said before hanging up
  std::string goodbye_phrases;  // comma list: the caller saying one ends the call
  int max_silent_prompts = 0;  // reprompts before giving up on a silent caller
  int max_call_s = 0;
  std::string dtmf_actions;    // comma list of key=action; actions: repeat, hangup, transfer
  std::string transfer_to;     // SIP URI a caller asking for a person is sent to ('' = none)
  std::string transfer_phrases;  // comma list: the caller saying one asks for a transfer
  std::string transfer_message;  // said before the transfer
  std::string transfer_failed;   // said when the caller's phone could not be transferred
  bool barge_in = true;
  int barge_in_min_ms = 0;     // caller speech must last this long to interrupt (noise guard)
  int echo_guard_ms = 0;       // after playback starts, ignore the VAD this long (own echo)
  int shutdown_grace_s = 0;    // SIGTERM: time for current turns to finish
};

// Tools the model may call during a call (see agent/call_tools.h). `http` is a JSON array of tool
// declarations: in the YAML file a list under tools.http, converted to JSON when the file is read.
struct ToolsSettings {
  std::string builtin;        // comma list: transfer_to_person, end_call ('' = none)
  std::string http;           // JSON array of HTTP tools ('' = none)
  std::string allowed_hosts;  // comma list: the only hosts an HTTP tool may reach
  int max_rounds = 0;         // tool rounds (model asks, tools run, model asked again) per turn
  std::string apology;        // said when a tool fails or is slow beyond its timeout
};

struct LogSettings {
  std::string level;
};

struct AdminSettings {
  std::string listen;   // host:port of the admin HTTP server; "off" disables it
  std::string token;    // secret: environment only (CHALKBOT_ADMIN_TOKEN)
  std::string web_dir;  // dashboard files; empty = the ones built in
};

struct RecordingSettings {
  bool enabled = false;
  std::string dir;  // one WAV per call: <dir>/<call id>.wav
};

// Asterisk AudioSocket: calls from a PBX's AudioSocket() application or AudioSocket channel.
struct AudioSocketSettings {
  bool enabled = false;
  std::string listen;  // host:port of the TCP listener (the protocol has no authentication)
};

// Twilio Media Streams: calls to a Twilio number, its voice webhook pointed here.
struct TwilioSettings {
  bool enabled = false;
  std::string listen;      // host:port of the webhook + WebSocket server (TLS is a proxy's job)
  std::string public_url;  // https://... as Twilio reaches it: signatures are over these URLs
  std::string auth_token;  // secret: environment only (CHALKBOT_TWILIO_AUTH_TOKEN)
};

struct Settings {
  LlmSettings llm;
  AsrSettings asr;
  TtsSettings tts;
  VadSettings vad;
  StoreSettings store;
  MemorySettings memory;
  SipSettings sip;
  MediaSettings media;
  FlowSettings flow;
  ToolsSettings tools;
  LogSettings log;
  ClusterSettings cluster;
  AdminSettings admin;
  RecordingSettings recording;
  AudioSocketSettings audiosocket;
  TwilioSettings twilio;
};

}  // namespace chalkbot
