#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/build_config.h"

namespace chalkbot {
namespace {

constexpr const char* kOpenAiBaseUrl = "https://api.openai.com/v1";
// asr.model and asr.model_dir mean different things per provider; these fill them when empty.
constexpr const char* kOpenAiAsrModel = "whisper-1";
constexpr const char* kMoonshineModel = "tiny";
constexpr const char* kMoonshineDir = CHALKBOT_SHARE_DIR "/models/moonshine";
constexpr const char* kPocketsphinxDir = "/usr/share/pocketsphinx/model/en-us";
constexpr const char* kSileroModelFile = CHALKBOT_SHARE_DIR "/models/silero/silero_vad.onnx";

constexpr const char* kPhoneSystemPrompt =
    "You are Chalkbot, a friendly assistant on a telephone call. Everything you write is read "
    "aloud by a speech synthesizer, so answer in one to three short spoken sentences of plain "
    "conversational English. Never use markdown, lists, headings, emojis, links or symbols; say "
    "numbers, dates and units the way a person would say them. If the question is unclear, ask "
    "the caller to repeat it.";

// One declared option: how to read it from text and show it back.
struct Option {
  OptionInfo info;
  bool env_only = false;  // secrets: never from the config file or the command line
  std::function<Status(const std::string& text)> parse;
  std::function<std::string()> show;
};

std::string env_name(const std::string& key) {
  std::string name = "CHALKBOT_";
  for (char c : key) {
    name += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

Error bad_value(const std::string& key, const std::string& text, const std::string& expected) {
  return make_error(key + ": expected " + expected + ", got '" + text + "'");
}

class OptionTable {
 public:
  void text(const std::string& key, std::string& field, const std::string& default_value,
            const std::string& help, std::vector<std::string> choices = {}) {
    field = default_value;
    add(
        key, "string", default_value, help,
        [&field, key, choices](const std::string& text) {
          if (!choices.empty() &&
              std::find(choices.begin(), choices.end(), text) == choices.end()) {
            std::string list;
            for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
            return Status(bad_value(key, text, "one of " + list));
          }
          field = text;
          return Status{};
        },
        [&field] { return field; });
  }

  void secret(const std::string& key, std::string& field, const std::string& help) {
    text(key, field, "", help);
    options_.back().info.secret = true;
    options_.back().env_only = true;
  }

  void integer(const std::string& key, int& field, int default_value, int min, int max,
               const std::string& help) {
    field = default_value;
    add(
        key, "integer", std::to_string(default_value), help,
        [&field, key, min, max](const std::string& text) {
          int value = 0;
          const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
          if (ec != std::errc{} || end != text.data() + text.size()) {
            return Status(bad_value(key, text, "an integer"));
          }
          if (value < min || value > max) {
            return Status(
                bad_value(key, text,
                          "an integer from " + std::to_string(min) + " to " + std::to_string(max)));
          }
          field = value;
          return Status{};
        },
        [&field] { return std::to_string(field); });
  }

  void number(const std::string& key, double& field, double default_value, double min, double max,
              const std::string& help) {
    field = default_value;
    add(
        key, "number", format_number(default_value), help,
        [&field, key, min, max](const std::string& text) {
          char* end = nullptr;
          const double value = std::strtod(text.c_str(), &end);
          if (text.empty() || end != text.c_str() + text.size()) {
            return Status(bad_value(key, text, "a number"));
          }
          if (value < min || value > max) {
            return Status(bad_value(
                key, text, "a number from " + format_number(min) + " to " + format_number(max)));
          }
          field = value;
          return Status{};
        },
        [&field] { return format_number(field); });
  }

  void boolean(const std::string& key, bool& field, bool default_value, const std::string& help) {
    field = default_value;
    add(
        key, "boolean", default_value ? "true" : "false", help,
        [&field, key](const std::string& text) {
          static const std::vector<std::string> yes{"true", "yes", "on", "1"};
          static const std::vector<std::string> no{"false", "no", "off", "0"};
          if (std::find(yes.begin(), yes.end(), text) != yes.end()) {
            field = true;
          } else if (std::find(no.begin(), no.end(), text) != no.end()) {
            field = false;
          } else {
            return Status(bad_value(key, text, "true or false"));
          }
          return Status{};
        },
        [&field] { return std::string(field ? "true" : "false"); });
  }

  const Option* find(const std::string& key) const {
    for (const auto& option : options_) {
      if (option.info.key == key) return &option;
    }
    return nullptr;
  }
  const std::vector<Option>& all() const { return options_; }

 private:
  static std::string format_number(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
  }

  void add(const std::string& key, const std::string& type, const std::string& default_text,
           const std::string& help, std::function<Status(const std::string&)> parse,
           std::function<std::string()> show) {
    options_.push_back(Option{OptionInfo{key, env_name(key), type, default_text, help, false},
                              false, std::move(parse), std::move(show)});
  }

  std::vector<Option> options_;
};

// The single declaration of every option: key, default, limits, help.
void declare_options(OptionTable& t, Settings& s) {
  auto& llm = s.llm;
  t.text("llm.base_url", llm.base_url, kOpenAiBaseUrl,
         "OpenAI-compatible API root (OpenAI, vLLM, Ollama, llama.cpp server ...)");
  t.secret("llm.api_key", llm.api_key,
           "API key; from the environment only (OPENAI_API_KEY or CHALKBOT_LLM_API_KEY)");
  t.text("llm.model", llm.model, "gpt-4o-mini", "chat model name");
  t.text("llm.system_prompt", llm.system_prompt, kPhoneSystemPrompt,
         "system prompt: tuned for short spoken answers without markdown");
  t.number("llm.temperature", llm.temperature, 0.5, 0, 2, "sampling temperature");
  t.integer("llm.max_tokens", llm.max_tokens, 200, 0, 100000, "answer length cap (0 = none)");
  t.integer("llm.connect_timeout_ms", llm.connect_timeout_ms, 3000, 1, 600000,
            "TCP/TLS connect timeout");
  // A phone caller hears silence until the first token: with the defaults a failing model is
  // given up after 1.5 s and the apology starts within 3 s of the caller's last word.
  t.integer("llm.first_token_timeout_ms", llm.first_token_timeout_ms, 1500, 1, 600000,
            "time allowed for one attempt until its first answer token");
  t.integer("llm.total_timeout_ms", llm.total_timeout_ms, 60000, 1, 3600000,
            "time allowed for a whole answer");
  t.integer("llm.stall_timeout_ms", llm.stall_timeout_ms, 1500, 0, 600000,
            "an answer stream silent this long has failed (0 = no limit)");
  t.integer("llm.max_retries", llm.max_retries, 2, 0, 10,
            "retries on 408/409/429/5xx or connection failure, before any token arrived");
  t.integer("llm.retry_budget_ms", llm.retry_budget_ms, 1500, 0, 600000,
            "longest wait for the first token, all attempts and Retry-After waits included "
            "(0 = only max_retries bounds it)");
  t.integer("llm.prefetch_pause_ms", llm.prefetch_pause_ms, 60, 0, 5000,
            "calls: after this much silence the model is asked with the caller's words so far, "
            "and the answer kept if they have finished (hides the model's time to first token; a "
            "caller who goes on costs a cancelled request); 0 = ask only at the end of the turn");

  auto& asr = s.asr;
  t.text("asr.provider", asr.provider, "moonshine",
         "speech recognition: moonshine (embedded, accurate) | pocketsphinx (embedded, light, "
         "inaccurate) | openai | none (hears nothing: media load tests)",
         {"moonshine", "pocketsphinx", "openai", "none"});
  t.text("asr.model", asr.model, "",
         "moonshine: tiny | base ('' = " + std::string(kMoonshineModel) + "); openai: the "
         "transcription model ('' = " + kOpenAiAsrModel + ")");
  t.text("asr.model_dir", asr.model_dir, "",
         "model directory ('' = the provider's own): moonshine " + std::string(kMoonshineDir) +
         " (tiny/, base/, tokens.txt; scripts/install-deps); pocketsphinx " + kPocketsphinxDir +
         " (en-us/, en-us.lm.bin, cmudict-en-us.dict)");
  t.text("asr.onnxruntime_library", asr.onnxruntime_library,
         std::string(CHALKBOT_SHARE_DIR) + "/lib/libonnxruntime.so",
         "moonshine and vad.provider silero: the ONNX Runtime library (scripts/install-deps)");
  t.integer("asr.threads", asr.threads, 1, 1, 64,
            "moonshine: threads of one decode (calls decode in parallel up to asr.pool_size)");
  t.integer("asr.decode_ahead_ms", asr.decode_ahead_ms, 1000, 0, 60000,
            "moonshine: while the caller speaks, look this often for a pause the VAD did not end "
            "the utterance at, and decode up to it, so little is left when the turn ends (0 = "
            "only at the pauses the VAD sees)");
  t.text("asr.feat_params", asr.feat_params,
         std::string(CHALKBOT_DATA_DIR) + "/telephone.feat.params",
         "pocketsphinx feature parameters tuned for telephone audio ('' = the model's own)");
  t.integer("asr.pool_size", asr.pool_size, 2, 1, 64,
            "moonshine: decodes running at once (about the core count); pocketsphinx: decoders "
            "shared by all calls (about 100 MB each)");
  t.boolean("asr.second_pass", asr.second_pass, false,
            "pocketsphinx: rescore each utterance when it ends (fwdflat + bestpath): a little "
            "more accurate, about 200 ms slower to answer");
  t.text("asr.base_url", asr.base_url, "", "openai: transcription API root ('' = llm.base_url)");
  t.secret("asr.api_key", asr.api_key, "openai: API key ('' = llm.api_key); environment only");
  t.integer("asr.timeout_ms", asr.timeout_ms, 1500, 1, 600000,
            "openai: time allowed for a transcription, one retry included (the caller waits)");

  auto& tts = s.tts;
  t.text("tts.provider", tts.provider, "flite", "speech synthesis: flite | espeak | openai",
         {"flite", "espeak", "openai"});
  t.text("tts.voice", tts.voice, "",
         "voice: flite slt (default); espeak a voice such as en-us; openai alloy, nova ...");
  t.text("tts.base_url", tts.base_url, "", "openai: speech API root ('' = llm.base_url)");
  t.secret("tts.api_key", tts.api_key, "openai: API key ('' = llm.api_key); environment only");
  t.text("tts.model", tts.model, "tts-1", "openai: speech model");
  t.integer("tts.timeout_ms", tts.timeout_ms, 15000, 1, 600000,
            "openai: time allowed for one sentence's audio");
  t.integer("tts.stall_timeout_ms", tts.stall_timeout_ms, 1500, 0, 600000,
            "openai: a speech stream silent this long has failed (0 = no limit)");

  auto& vad = s.vad;
  t.text("vad.provider", vad.provider, "silero",
         "voice activity detector: silero (neural, 32 ms frames, no false starts in line noise; "
         "its model from scripts/install-deps, run on asr.onnxruntime_library) | webrtc (10 ms "
         "frames, no model, no ONNX Runtime)",
         {"webrtc", "silero"});
  t.integer("vad.mode", vad.mode, 3, 0, 3,
            "webrtc: aggressiveness (3 = most eager to call a frame silence)");
  t.number("vad.threshold", vad.threshold, 0.5, 0.2, 0.95,
           "silero: speech probability that starts speech; speech goes on while it stays above "
           "this minus 0.15");
  t.text("vad.model_file", vad.model_file, kSileroModelFile,
         "silero: the Silero VAD model (scripts/install-deps)");
  t.integer("vad.speech_start_ms", vad.speech_start_ms, 60, 10, 2000,
            "voiced audio needed before speech counts as started");
  t.integer("vad.end_silence_ms", vad.end_silence_ms, 300, 100, 5000,
            "silence that ends an utterance (AWS Lex waits 600 ms), unless its words sound "
            "finished or unfinished (below)");
  t.integer("vad.finished_silence_ms", vad.finished_silence_ms, 150, 0, 5000,
            "silence that ends an utterance whose words so far sound finished (a question: "
            "'... open on Sunday?'); 0 = the words never end a turn sooner. Needs an ASR that "
            "can tell mid-utterance (moonshine)");
  t.integer("vad.unfinished_silence_ms", vad.unfinished_silence_ms, 900, 100, 5000,
            "silence that ends an utterance whose words so far sound unfinished ('... and', "
            "'um'); ASR engines that cannot tell mid-utterance always use vad.end_silence_ms");
  t.integer("vad.continue_turn_ms", vad.continue_turn_ms, 1500, 0, 5000,
            "a caller who goes on within this long of the end of their turn (a breath after "
            "'hello') continues it: the answer begun is dropped and the model gets one message "
            "(0 = never)");
  t.integer("vad.no_input_timeout_ms", vad.no_input_timeout_ms, 6000, 500, 120000,
            "how long to wait for the caller to start speaking");
  t.integer("vad.max_utterance_ms", vad.max_utterance_ms, 30000, 1000, 120000,
            "an utterance is cut after this long");

  auto& store = s.store;
  t.text("store.backend", store.backend, "sqlite",
         "conversation store: sqlite (one node) | postgres (nodes sharing one database) | "
         "dynamodb (LangChain's chat history table)",
         {"sqlite", "postgres", "dynamodb"});
  t.text("store.path", store.path, "chalkbot.db", "sqlite database file");
  t.text("store.rejected_path", store.rejected_path, "",
         "where records the store refuses (a constraint, bad data) are kept, one JSON object per "
         "line ('' = <store.path>.rejected.jsonl for sqlite, chalkbot-rejected.jsonl otherwise)");
  t.integer("store.memory_budget_chars", store.memory_budget_chars, 6000, 0, 1000000,
            "how much of the call's earlier turns is sent to the model");
  t.secret("store.postgres_url", store.postgres_url,
           "postgres: libpq connection string or URI; environment only "
           "(CHALKBOT_STORE_POSTGRES_URL)");
  t.integer("store.postgres_pool_size", store.postgres_pool_size, 4, 1, 64,
            "postgres: connections each node keeps open");
  t.integer("store.postgres_retry_ms", store.postgres_retry_ms, 5000, 0, 600000,
            "postgres: how long one store operation retries transient errors (lost connection, "
            "server restart, serialization failure)");

  auto& memory = s.memory;
  t.boolean("memory.across_calls", memory.across_calls, false,
            "remember callers across calls: after a call the model writes a short summary, kept "
            "under the caller's number (SIP From user, Twilio caller), and the caller's next "
            "calls start with it; caller ID can be spoofed (see the README)");
  t.integer("memory.summaries_per_call", memory.summaries_per_call, 3, 1, 20,
            "how many of the caller's latest call summaries a call starts with");
  t.integer("memory.retention_days", memory.retention_days, 90, 1, 3650,
            "call summaries older than this many days are erased (at start-up and daily)");
  t.text("memory.summary_prompt", memory.summary_prompt,
         "Summarise this phone call in at most three short sentences for the assistant's next "
         "call with the same caller: what they wanted, what they were told, anything left open. "
         "Only facts from the call.",
         "the instruction the model summarises a call under");
  t.text("memory.forget_phrases", memory.forget_phrases,
         "forget me,forget about me,delete my data,forget our calls",
         "comma list: a caller saying one of these has their call summaries erased");
  t.text("memory.forget_message", memory.forget_message,
         "Done. I have forgotten our earlier calls.",
         "said once a caller's summaries are erased");

  t.text("store.dynamodb_table", store.dynamodb_table, "SessionTable",
         "dynamodb: table in LangChain's shape (partition key SessionId, attribute History)");
  t.text("store.dynamodb_region", store.dynamodb_region, "",
         "dynamodb: AWS region ('' = AWS_REGION, then AWS_DEFAULT_REGION); credentials from "
         "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN only");
  t.text("store.dynamodb_endpoint", store.dynamodb_endpoint, "",
         "dynamodb: endpoint URL ('' = AWS's for the region; e.g. http://127.0.0.1:8000 for a "
         "local DynamoDB)");
  t.integer("store.dynamodb_ttl_s", store.dynamodb_ttl_s, 0, 0, 315360000,
            "dynamodb: items expire this long after their last write (0 = never)");
  t.text("store.dynamodb_ttl_attribute", store.dynamodb_ttl_attribute, "expireAt",
         "dynamodb: TTL attribute name (LangChain's default: expireAt)");
  t.integer("store.dynamodb_timeout_ms", store.dynamodb_timeout_ms, 5000, 100, 600000,
            "dynamodb: time allowed for one request");

  t.text("cluster.node_id", s.cluster.node_id, "",
         "this node's name, stored with each call so a cluster view shows where a live call is "
         "held ('' = hostname:sip_port)");

  auto& sip = s.sip;
  t.text("sip.bind_address", sip.bind_address, "127.0.0.1",
         "address to listen on for SIP (loopback by default: set it to take outside calls)");
  t.integer("sip.port", sip.port, 5060, 0, 65535, "SIP port (UDP and TCP)");
  t.text("sip.transports", sip.transports, "udp,tcp", "SIP transports: udp,tcp | udp | tcp",
         {"udp,tcp", "tcp,udp", "udp", "tcp"});
  t.text("sip.tls_listen", sip.tls_listen, "off",
         "SIP over TLS (sips:, transport=tls) listener host:port, e.g. 0.0.0.0:5061 (port 0: a "
         "free one); 'off' disables it; needs sip.tls_certificate and sip.tls_private_key");
  t.text("sip.tls_certificate", sip.tls_certificate, "",
         "PEM file: the TLS certificate, followed by any intermediate certificates");
  t.text("sip.tls_private_key", sip.tls_private_key, "",
         "PEM file: the certificate's private key (unencrypted; readable by Chalkbot alone)");
  t.text("sip.tls_ca_file", sip.tls_ca_file, "",
         "PEM file of CA certificates: a TLS registrar's certificate must chain to one of them "
         "('' = not checked)");
  t.text("sip.public_address", sip.public_address, "",
         "address advertised in SDP and Contact ('' = sip.bind_address)");
  t.integer("sip.max_calls", sip.max_calls, 50, 1, 100000,
            "concurrent calls; more get 503 with Retry-After");
  t.integer("sip.retry_after_s", sip.retry_after_s, 5, 1, 3600, "Retry-After sent with 503");
  t.integer("sip.answer_delay_ms", sip.answer_delay_ms, 0, 0, 60000,
            "ring (180 Ringing) this long before answering; 0 answers at once");
  t.text("sip.allow_networks", sip.allow_networks, "127.0.0.0/8,::1/128",
         "comma list of networks (CIDR) allowed to call; others get 403");
  t.text("sip.allow_callers", sip.allow_callers, "",
         "comma list of caller URI fragments allowed to call ('' = any caller from an allowed "
         "network)");
  t.number("sip.rate_limit_per_s", sip.rate_limit_per_s, 30, 0, 100000,
           "new INVITEs, OPTIONS ... allowed per second from one source address; more get 503 "
           "with Retry-After (calls in progress are never limited; 0 = no limit)");
  t.integer("sip.rate_limit_burst", sip.rate_limit_burst, 60, 1, 1000000,
            "requests one source address may send at once before sip.rate_limit_per_s applies");
  t.text("sip.scanner_user_agents", sip.scanner_user_agents,
         "friendly-scanner,sipvicious,sipcli,vaxsipuseragent,sip-scan,iwar,sundayddr,"
         "smap,pplsip,sipptk,sipscan,nmap",
         "comma list of User-Agent fragments (any case) of SIP scanners: refused at once, "
         "never offered to the application ('' = none)");
  t.text("sip.auth_user", sip.auth_user, "",
         "inbound digest auth: callers must authenticate as this user ('' = no auth; the "
         "allowlists still apply)");
  t.secret("sip.auth_password", sip.auth_password,
           "inbound digest auth password; environment only (CHALKBOT_SIP_AUTH_PASSWORD)");
  t.text("sip.auth_realm", sip.auth_realm, "chalkbot", "inbound digest auth realm");
  t.integer("sip.session_expires_s", sip.session_expires_s, 1800, 0, 86400,
            "session timer (RFC 4028) interval; 0 = off");
  t.integer("sip.timer_t1_ms", sip.timer_t1_ms, 500, 10, 10000,
            "SIP timer T1 (RFC 3261): first retransmit interval; transactions and the wait for "
            "the ACK of an answered call give up after 64*T1 (32 s by default). Smaller only in "
            "a closed, private network (RFC 3261 17.1.1.1), e.g. a PBX on the same site as the "
            "only peer: 100 keeps ended calls' transactions 6.4 s instead of 32 s");
  t.integer("sip.timer_t1x64_ms", sip.timer_t1x64_ms, 0, 0, 600000,
            "how long a finished transaction is kept to answer retransmissions (RFC 3261 timers "
            "B, F, H, J) and an answered call waits for its ACK; 0 = 64*sip.timer_t1_ms, as RFC "
            "3261 asks over UDP. Lower frees memory sooner after a burst of calls (sofia-sip "
            "keeps each ended call's BYE transaction this long, about 10 KB), but a request "
            "retransmitted after it is answered as unknown (481)");
  t.integer("sip.timer_t2_ms", sip.timer_t2_ms, 4000, 10, 60000,
            "SIP timer T2 (RFC 3261): longest retransmit interval; at least sip.timer_t1_ms");
  t.integer("sip.timer_t4_ms", sip.timer_t4_ms, 5000, 10, 60000,
            "SIP timer T4 (RFC 3261): how long a message may stay in the network");
  t.text("sip.register_uri", sip.register_uri, "",
         "registrar of a SIP trunk to REGISTER with ('' = do not register)");
  t.text("sip.register_user", sip.register_user, "", "REGISTER user (digest auth user name)");
  t.secret("sip.register_password", sip.register_password,
           "REGISTER digest password; environment only (CHALKBOT_SIP_REGISTER_PASSWORD)");
  t.integer("sip.register_expires_s", sip.register_expires_s, 600, 60, 86400,
            "registration lifetime; refreshed before it runs out");
  t.text("sip.user_agent", sip.user_agent, "Chalkbot", "User-Agent and Server header");

  auto& media = s.media;
  t.integer("media.rtp_port_min", media.rtp_port_min, 20000, 1024, 65534, "lowest RTP port");
  t.integer("media.rtp_port_max", media.rtp_port_max, 29999, 1025, 65535, "highest RTP port");
  // Checked when SIP starts (sip::parse_codec_list): any order of the four names.
  // G.722 first: wideband at G.711's price in CPU (Opus costs ~100x: bench media_opus), and its
  // RTP clock is telephone-event's 8 kHz. Opus for phones without G.722; G.711 for the rest.
  t.text("media.codecs", media.codecs, "G722,opus,PCMU,PCMA",
         "codecs offered/accepted, in preference order: opus, G722, PCMU, PCMA (opus and G722 are "
         "wideband: the call's speech runs at 16 kHz)");
  t.integer("media.jitter_min_ms", media.jitter_min_ms, 40, 0, 1000,
            "jitter buffer: smallest playout delay");
  t.integer("media.jitter_max_ms", media.jitter_max_ms, 200, 20, 2000,
            "jitter buffer: largest playout delay");
  t.text("media.srtp", media.srtp, "optional",
         "SDES-SRTP (RFC 4568) on incoming calls: off (plain RTP only) | optional (SRTP when the "
         "caller offers a=crypto, else plain RTP) | required (offers without a usable a=crypto "
         "get 488)",
         {"off", "optional", "required"});
  t.integer("media.inactivity_timeout_s", media.inactivity_timeout_s, 30, 1, 3600,
            "no RTP from the caller for this long ends the call");

  auto& flow = s.flow;
  t.text("flow.greeting", flow.greeting, "Hello, this is Chalkbot. How can I help you?",
         "said when the call is answered");
  t.text("flow.reprompt", flow.reprompt, "Are you still there? How can I help?",
         "said when the caller is silent");
  t.text("flow.farewell", flow.farewell, "Thank you for calling. Goodbye.",
         "said before the bot hangs up");
  t.text("flow.goodbye_phrases", flow.goodbye_phrases, "goodbye,bye,that's all,that is all",
         "comma list: the caller saying one of these ends the call");
  t.integer("flow.max_silent_prompts", flow.max_silent_prompts, 2, 0, 20,
            "reprompts to a silent caller before hanging up");
  t.integer("flow.max_call_s", flow.max_call_s, 900, 10, 86400, "longest call");
  t.text("flow.dtmf_actions", flow.dtmf_actions, "0=repeat,#=hangup",
         "comma list of key=action (actions: repeat, hangup, transfer)");
  t.text("flow.transfer_to", flow.transfer_to, "",
         "SIP URI to transfer a caller who asks for a person to (blind transfer, REFER); "
         "empty = no transfers");
  t.text("flow.transfer_phrases", flow.transfer_phrases,
         "operator,representative,speak to a person,talk to a person,speak to a human,"
         "talk to a human,speak to someone,talk to someone",
         "comma list: a caller saying one of these is transferred (with flow.transfer_to)");
  t.text("flow.transfer_message", flow.transfer_message,
         "One moment, I am transferring your call.", "said before transferring the call");
  t.text("flow.transfer_failed", flow.transfer_failed,
         "Sorry, I could not transfer your call. How else can I help?",
         "said when the transfer did not work; the call goes on with the bot");
  t.boolean("flow.barge_in", flow.barge_in, true, "caller speech interrupts the bot");
  t.integer("flow.barge_in_min_ms", flow.barge_in_min_ms, 120, 0, 5000,
            "speech must last this long to interrupt (guards against noises)");
  t.integer("flow.echo_guard_ms", flow.echo_guard_ms, 250, 0, 5000,
            "after the bot starts speaking, ignore caller audio this long (its own echo)");
  t.integer("flow.shutdown_grace_s", flow.shutdown_grace_s, 10, 0, 600,
            "SIGTERM: time current turns get to finish before BYE");

  auto& tools = s.tools;
  t.text("tools.builtin", tools.builtin, "",
         "comma list of built-in tools the model may call: transfer_to_person (needs "
         "flow.transfer_to), end_call; '' = none");
  t.text("tools.http", tools.http, "",
         "HTTP tools the model may call: in the config file a list of {name, description, "
         "parameters, method, url, headers, timeout_ms, filler, filler_after_ms} (see the README); "
         "in the environment the same as JSON");
  t.text("tools.allowed_hosts", tools.allowed_hosts, "",
         "comma list of the only hosts (host or host:port) HTTP tools may reach");
  t.integer("tools.max_rounds", tools.max_rounds, 3, 1, 10,
            "tool rounds per caller turn (the model asks for tools, they run, it is asked again)");
  t.text("tools.apology", tools.apology, "Sorry, I could not get that information just now.",
         "said when a tool fails or takes longer than its timeout; the call goes on");

  auto& admin = s.admin;
  t.text("admin.listen", admin.listen, "127.0.0.1:8080",
         "admin HTTP server (API, metrics, dashboard) host:port; 'off' disables it; beyond "
         "loopback it needs admin.token");
  t.secret("admin.token", admin.token,
           "bearer token the admin API requires; environment only (CHALKBOT_ADMIN_TOKEN)");
  t.text("admin.web_dir", admin.web_dir, "", "dashboard files ('' = the ones installed)");
  t.boolean("recording.enabled", s.recording.enabled, false,
            "record each call, both directions, to a 2-channel WAV (caller left, bot right)");
  t.text("recording.dir", s.recording.dir, "recordings", "where call recordings are written");
  t.boolean("audiosocket.enabled", s.audiosocket.enabled, false,
            "take calls from Asterisk over AudioSocket (Dial(AudioSocket/...) or AudioSocket())");
  t.text("audiosocket.listen", s.audiosocket.listen, "127.0.0.1:9092",
         "AudioSocket TCP listener host:port; the protocol has no authentication, so beyond "
         "loopback only on a network where just the PBX can reach it");
  t.boolean("twilio.enabled", s.twilio.enabled, false,
            "take calls from a Twilio number: voice webhook <public_url>/twilio/voice, "
            "Media Streams WebSocket /twilio/stream");
  t.text("twilio.listen", s.twilio.listen, "127.0.0.1:9093",
         "Twilio webhook and WebSocket server host:port (plain HTTP: put a TLS proxy in front)");
  t.text("twilio.public_url", s.twilio.public_url, "",
         "the https:// URL Twilio reaches this server by (required when twilio.enabled)");
  t.secret("twilio.auth_token", s.twilio.auth_token,
           "the Twilio account's auth token, checks X-Twilio-Signature; environment only "
           "(CHALKBOT_TWILIO_AUTH_TOKEN)");

  t.text("log.level", s.log.level, "info", "log level: trace | debug | info | warn | error | off",
         {"trace", "debug", "info", "warn", "error", "off"});
}

Status apply(const OptionTable& table, const std::string& key, const std::string& text,
             const std::string& source) {
  const Option* option = table.find(key);
  if (option == nullptr) return make_error(source + ": unknown key '" + key + "'");
  if (option->env_only && source != "environment") {
    return make_error(source + ": " + key + " is a secret and is read from the environment only (" +
                      option->info.env + (key == "llm.api_key" ? " or OPENAI_API_KEY" : "") + ")");
  }
  if (auto status = option->parse(text); !status) {
    return make_error(source + ": " + status.error().message);
  }
  return {};
}

// The one option whose value is a structure (a list of tool declarations), kept as JSON text.
constexpr const char* kStructuredKey = "tools.http";

// A YAML node as JSON. Plain scalars become numbers, booleans or null when they read as one
// (a JSON Schema needs `minimum: 1` and `additionalProperties: false`); quoted ones stay text.
Result<nlohmann::json> yaml_to_json(const YAML::Node& node, const std::string& where) {
  using nlohmann::json;
  if (node.IsNull()) return json(nullptr);
  if (node.IsSequence()) {
    json array = json::array();
    std::size_t i = 0;
    for (const auto& item : node) {
      auto converted = yaml_to_json(item, where + "[" + std::to_string(i++) + "]");
      if (!converted) return converted.error();
      array.push_back(std::move(*converted));
    }
    return array;
  }
  if (node.IsMap()) {
    json object = json::object();
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) return make_error(where + ": a key is not a name");
      auto converted = yaml_to_json(entry.second, where + "." + entry.first.Scalar());
      if (!converted) return converted.error();
      object[entry.first.Scalar()] = std::move(*converted);
    }
    return object;
  }
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return json(text);  // quoted
  if (text == "true" || text == "false") return json(text == "true");
  if (text == "null" || text == "~") return json(nullptr);
  const json number = json::parse(text, nullptr, false);
  if (!number.is_discarded() && number.is_number()) return number;
  return json(text);
}

Status apply_yaml_file(const OptionTable& table, const std::string& path) {
  YAML::Node root;
  try {
    std::ifstream in(path);
    if (!in) return make_error("config " + path + ": cannot be read");
    root = YAML::Load(in);
  } catch (const YAML::Exception& e) {
    return make_error("config " + path + ": not valid YAML: " + e.what());
  }
  const std::string source = "config " + path;
  if (root.IsNull()) return {};
  if (!root.IsMap()) return make_error(source + ": expected sections (a mapping) at the top");
  for (const auto& section : root) {
    if (!section.first.IsScalar()) return make_error(source + ": a section name is not a name");
    const auto section_name = section.first.Scalar();
    if (!section.second.IsMap()) {
      return make_error(source + ": '" + section_name + "' must be a section of keys");
    }
    for (const auto& entry : section.second) {
      if (!entry.first.IsScalar()) {
        return make_error(source + ": a key in '" + section_name + "' is not a name");
      }
      const std::string key = section_name + "." + entry.first.Scalar();
      if (key == kStructuredKey && !entry.second.IsScalar()) {
        auto json = yaml_to_json(entry.second, key);
        if (!json) return make_error(source + ": " + json.error().message);
        if (auto status = apply(table, key, json->dump(), source); !status) return status;
        continue;
      }
      if (!entry.second.IsScalar()) {
        return make_error(source + ": " + key + ": expected a single value");
      }
      if (auto status = apply(table, key, entry.second.Scalar(), source); !status) return status;
    }
  }
  return {};
}

std::string yaml_quote(const std::string& text) {
  YAML::Emitter out;
  out << YAML::DoubleQuoted << text;
  return out.c_str();
}

}  // namespace

std::optional<std::string> process_env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

Result<Settings> load_settings(const ConfigSources& sources) {
  Settings settings;
  OptionTable table;
  declare_options(table, settings);

  if (sources.file) {
    if (auto status = apply_yaml_file(table, *sources.file); !status) return status.error();
  }
  for (const auto& option : table.all()) {
    if (auto value = sources.env(option.info.env)) {
      if (auto status = apply(table, option.info.key, *value, "environment"); !status) {
        return make_error("environment " + option.info.env + ": " +
                          status.error().message.substr(std::string("environment: ").size()));
      }
    }
  }
  if (settings.llm.api_key.empty()) {
    if (auto key = sources.env("OPENAI_API_KEY")) settings.llm.api_key = *key;
  }
  for (const auto& [key, value] : sources.sets) {
    if (auto status = apply(table, key, value, "--set"); !status) return status.error();
  }

  if (settings.media.rtp_port_min >= settings.media.rtp_port_max) {
    return make_error("media.rtp_port_min (" + std::to_string(settings.media.rtp_port_min) +
                      ") must be below media.rtp_port_max (" +
                      std::to_string(settings.media.rtp_port_max) + ")");
  }

  auto& asr = settings.asr;
  if (asr.provider == "moonshine") {
    if (asr.model.empty()) asr.model = kMoonshineModel;
    if (asr.model != "tiny" && asr.model != "base") {
      return make_error("asr.model: the moonshine provider has the models tiny and base, got '" +
                        asr.model + "'");
    }
    if (asr.model_dir.empty()) asr.model_dir = kMoonshineDir;
  } else if (asr.provider == "pocketsphinx") {
    if (asr.model_dir.empty()) asr.model_dir = kPocketsphinxDir;
  } else if (asr.provider == "openai") {
    if (asr.model.empty()) asr.model = kOpenAiAsrModel;
  }

  settings.vad.onnxruntime_library = asr.onnxruntime_library;  // one runtime per process

  // Remote speech providers default to the chat endpoint and key.
  for (auto* provider : {&settings.asr.base_url, &settings.tts.base_url}) {
    if (provider->empty()) *provider = settings.llm.base_url;
  }
  for (auto* key : {&settings.asr.api_key, &settings.tts.api_key}) {
    if (key->empty()) *key = settings.llm.api_key;
  }
  return settings;
}

std::vector<OptionInfo> describe_options() {
  Settings settings;
  OptionTable table;
  declare_options(table, settings);
  std::vector<OptionInfo> infos;
  for (const auto& option : table.all()) infos.push_back(option.info);
  return infos;
}

std::string settings_to_yaml(const Settings& settings) {
  Settings copy = settings;
  OptionTable table;
  declare_options(table, copy);
  copy = settings;  // declare_options reset the fields to defaults; show the real values
  std::string out;
  std::string section;
  for (const auto& option : table.all()) {
    const auto dot = option.info.key.find('.');
    const std::string this_section = option.info.key.substr(0, dot);
    if (this_section != section) {
      section = this_section;
      out += section + ":\n";
    }
    std::string value = option.show();
    if (option.info.secret) value = value.empty() ? "" : "***";
    out += "  " + option.info.key.substr(dot + 1) + ": " + yaml_quote(value) + "\n";
  }
  return out;
}

Status require_llm_endpoint(const Settings& settings) {
  if (!settings.llm.api_key.empty() || settings.llm.base_url != kOpenAiBaseUrl) return {};
  return make_error(
      "no LLM endpoint configured: set OPENAI_API_KEY in the environment for OpenAI, or "
      "llm.base_url (config file, CHALKBOT_LLM_BASE_URL or --set llm.base_url=URL) to a local "
      "OpenAI-compatible server such as http://127.0.0.1:8080/v1");
}

}  // namespace chalkbot
