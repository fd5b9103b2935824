// The browser phone (transport/browser_phone.h) over real loopback sockets: a WebSocket client
// speaks the Talk page's protocol to it; a recording StreamCallHandler stands in for the gateway
// and a small acceptor for the admin server, which hands the upgrade request over as it does.
// Checked: a call begins, its audio goes up resampled to 8 kHz and comes down at 16 kHz, the news
// and a barge-in's clear reach the page; malformed messages end the call with a clear error and
// close code 1008; a hang-up in each state of a call ends it with the right reason; the cap.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include "transport/browser_phone.h"
#include "transport/browser_protocol.h"

namespace chalkbot {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;

// Stands in for the gateway: records what the phone tells it.
class Calls final : public StreamCallHandler {
 public:
  bool stream_started(const StreamCallStart& start, std::shared_ptr<StreamedAudio> audio) override {
    std::lock_guard lock(mutex_);
    if (refuse) return false;
    started_.push_back({start, std::move(audio)});
    changed_.notify_all();
    return true;
  }
  void stream_ended(const std::string& call_id, const std::string& reason) override {
    std::lock_guard lock(mutex_);
    ended_.emplace_back(call_id, reason);
    changed_.notify_all();
  }

  // The nth call begun (waits for it).
  std::pair<StreamCallStart, std::shared_ptr<StreamedAudio>> started(std::size_t n) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 5s, [&] { return started_.size() > n; });
    if (started_.size() <= n) return {};
    return started_[n];
  }
  // How the call ended ("" when it has not within 5 s).
  std::string end_of(const std::string& id) {
    std::unique_lock lock(mutex_);
    std::string reason;
    changed_.wait_for(lock, 5s, [&] {
      for (const auto& [ended, why] : ended_) {
        if (ended == id) reason = why;
      }
      return !reason.empty();
    });
    return reason;
  }
  std::size_t calls() {
    std::lock_guard lock(mutex_);
    return started_.size();
  }

  std::atomic<bool> refuse{false};

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::pair<StreamCallStart, std::shared_ptr<StreamedAudio>>> started_;
  std::vector<std::pair<std::string, std::string>> ended_;
};

// The admin server's part: reads an upgrade request and hands the socket to the phone.
class Handoff {
 public:
  explicit Handoff(BrowserPhone& phone) : phone_(phone) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listener_, 16) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ADD_FAILURE() << "cannot listen";
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Handoff() {
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
  }
  int port() const { return port_; }

 private:
  void run() {
    while (true) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      std::string request;
      char byte = 0;
      while (request.find("\r\n\r\n") == std::string::npos && ::read(fd, &byte, 1) == 1) {
        request += byte;
      }
      phone_.take(fd, request, "127.0.0.1");
    }
  }

  BrowserPhone& phone_;
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// The Talk page's side.
class Page {
 public:
  explicit Page(int port) {
    tcp::socket& socket = ws_.next_layer();
    socket.connect({asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(port)});
    const timeval timeout{5, 0};  // a read that hangs fails the test instead
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ws_.handshake("127.0.0.1:" + std::to_string(port), "/api/talk");
  }

  void text(const std::string& message) {
    ws_.text(true);
    ws_.write(asio::buffer(message));
  }
  void binary(const std::string& bytes) {
    ws_.binary(true);
    ws_.write(asio::buffer(bytes));
  }
  // The next text message, counting the binary ones skipped; a JSON null when the socket closed.
  json next_text(std::size_t* audio_messages = nullptr, std::size_t* audio_bytes = nullptr) {
    while (true) {
      beast::flat_buffer buffer;
      beast::error_code error;
      ws_.read(buffer, error);
      if (error) return nullptr;
      if (ws_.got_text()) return json::parse(beast::buffers_to_string(buffer.data()));
      if (audio_messages) ++*audio_messages;
      if (audio_bytes) *audio_bytes += buffer.size();
    }
  }
  // Reads until `n` audio messages came; false if the socket closed first.
  bool await_audio(std::size_t n) {
    for (std::size_t got = 0; got < n;) {
      beast::flat_buffer buffer;
      beast::error_code error;
      ws_.read(buffer, error);
      if (error) return false;
      if (!ws_.got_text()) ++got;
    }
    return true;
  }
  // Reads to the end; the text messages on the way.
  std::vector<json> rest(std::size_t* audio_messages = nullptr) {
    std::vector<json> texts;
    for (json next = next_text(audio_messages); !next.is_null(); next = next_text(audio_messages)) {
      texts.push_back(next);
    }
    return texts;
  }
  int close_code() const { return static_cast<int>(ws_.reason().code); }
  void close() { ws_.close(websocket::close_code::normal); }
  void drop() {
    beast::error_code ignored;
    ws_.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
    ws_.next_layer().close(ignored);
  }

 private:
  asio::io_context io_;
  websocket::stream<tcp::socket> ws_{io_};
};

std::string start_message(int rate = 16000) {
  return json{{"type", "start"}, {"rate", rate}}.dump();
}

// 20 ms of a 440 Hz tone at 16 kHz, as the page sends it.
std::string tone_20ms() {
  std::vector<Sample> pcm(320);
  for (std::size_t i = 0; i < pcm.size(); ++i) {
    pcm[i] = static_cast<Sample>(8000 * std::sin(2 * M_PI * 440 * static_cast<double>(i) / 16000));
  }
  return browser::encode_audio(pcm);
}

class BrowserPhoneTest : public ::testing::Test {
 protected:
  explicit BrowserPhoneTest(int max_calls = 4) : phone_(calls_, [] {}, max_calls) {
    phone_.start();
  }

  // A page whose call has begun; `id` is its call id.
  std::unique_ptr<Page> call(std::string& id) {
    auto page = std::make_unique<Page>(handoff_.port());
    page->text(start_message());
    const json started = page->next_text();
    EXPECT_EQ(started["type"], "started") << started;
    EXPECT_EQ(started["rate"], 16000);
    id = started.value("call_id", "");
    return page;
  }

  Calls calls_;
  BrowserPhone phone_;
  Handoff handoff_{phone_};
};

TEST_F(BrowserPhoneTest, ACallHearsTheCallerAndSpeaksToThePage) {
  std::string id;
  auto page = call(id);
  const auto [start, audio] = calls_.started(0);
  ASSERT_TRUE(audio);
  EXPECT_EQ(start.call_id, id);
  EXPECT_EQ(start.from, "browser:127.0.0.1");
  EXPECT_EQ(start.transport, "browser");

  // The call runs at 16 kHz, as the page sends: one second up is fifty 20 ms frames of 320
  // samples, as they were sent (no resampling).
  EXPECT_EQ(audio->sample_rate(), kWidebandRate);
  for (int i = 0; i < 50; ++i) page->binary(tone_20ms());
  std::size_t frames = 0;
  WideFrame frame;
  SteadyClock::time_point at;
  const auto deadline = SteadyClock::now() + 3s;
  while (frames < 50 && SteadyClock::now() < deadline) {
    if (audio->pop_frame(frame, at)) {
      ++frames;
    } else {
      std::this_thread::sleep_for(5ms);
    }
  }
  EXPECT_EQ(frames, 50u);
  EXPECT_EQ(frame[80], static_cast<Sample>(8000 * std::sin(2 * M_PI * 440 * 80.0 / 16000)));

  // The news of the call, then 200 ms of the bot: ten 20 ms messages of 16 kHz audio.
  start.show({StreamNews::Kind::kCaller, "Hello?", false, -1, {}});
  EXPECT_EQ(page->next_text(), json::parse(R"({"type":"caller","text":"Hello?"})"));
  std::vector<Sample> speech(3200, 1000);
  ASSERT_EQ(audio->enqueue_audio(speech), speech.size());
  start.show({StreamNews::Kind::kBot, "Hi.", false, -1, {}});
  std::size_t messages = 0;
  std::size_t bytes = 0;
  EXPECT_EQ(page->next_text(&messages, &bytes)["type"], "bot");
  // Half a second more, then a barge-in: the page is told to drop what it holds, and no more comes.
  std::vector<Sample> more(8000, 1000);
  ASSERT_EQ(audio->enqueue_audio(more), more.size());
  std::this_thread::sleep_for(100ms);
  audio->clear_playback();
  start.show({StreamNews::Kind::kTurn, "Hi there.", true, 700, {{"asr", 100}}});
  // The clear goes out on the next tick, the news at once: either may come first.
  json clear = page->next_text(&messages, &bytes);
  json turn = page->next_text(&messages, &bytes);
  if (clear["type"] == "turn") std::swap(clear, turn);
  EXPECT_EQ(clear["type"], "clear") << clear;
  EXPECT_EQ(turn["type"], "turn") << turn;
  EXPECT_EQ(turn["latency_ms"], 700);
  EXPECT_TRUE(turn["interrupted"]);
  // About 100 ms went out before the clear (of the 700 queued), at ~640 bytes (20 ms at 16 kHz)
  // each; none after it (the hang-up's answer is read to the end).
  EXPECT_GE(messages, 3u);
  EXPECT_LE(messages, 15u);
  EXPECT_GE(bytes, messages * 600);
  page->text(R"({"type":"hangup"})");
  std::size_t after_clear = 0;
  const auto rest = page->rest(&after_clear);
  EXPECT_LE(after_clear, 1u);
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back(), json::parse(R"({"type":"ended","reason":"caller_hangup"})"));
  EXPECT_EQ(page->close_code(), 1000);
  EXPECT_EQ(calls_.end_of(id), "caller_hangup");
}

TEST_F(BrowserPhoneTest, MalformedMessagesEndTheCallWithAClearError) {
  struct Case {
    const char* name;
    bool start_first;
    bool text;
    std::string message;
    std::string error;
  };
  const std::vector<Case> cases{
      {"audio before start", false, false, tone_20ms(), "audio before \"start\""},
      {"not JSON", false, true, "hello", "not a JSON object"},
      {"no type", false, true, R"({"rate":16000})", "no \"type\""},
      {"bad rate", false, true, R"({"type":"start","rate":1})", "\"rate\" from 8000"},
      {"dtmf before start", false, true, R"({"type":"dtmf","digit":"1"})", "before \"start\""},
      {"odd audio", true, false, std::string(641, '\1'), "odd length"},
      {"too much audio", true, false, std::string(9000, '\0'), "at most 8000"},
      {"second start", true, true, start_message(), "a second \"start\""},
      {"unknown type", true, true, R"({"type":"dance"})", "unknown type \"dance\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string id;
    std::unique_ptr<Page> page;
    if (c.start_first) {
      page = call(id);
    } else {
      page = std::make_unique<Page>(handoff_.port());
    }
    if (c.text) {
      page->text(c.message);
    } else {
      page->binary(c.message);
    }
    const auto rest = page->rest();
    ASSERT_FALSE(rest.empty());
    EXPECT_EQ(rest.back()["type"], "ended");
    EXPECT_EQ(rest.back()["reason"], "protocol_error");
    EXPECT_NE(rest.back().value("error", "").find(c.error), std::string::npos) << rest.back();
    EXPECT_EQ(page->close_code(), 1008);
    if (c.start_first) {
      EXPECT_EQ(calls_.end_of(id), "protocol_error");
    }
  }
  EXPECT_EQ(calls_.calls(), 4u);  // the ones that started first; no other began a call

  // Beyond the socket's own limit the message is not even read: closed with 1009 (too big).
  std::string id;
  auto page = call(id);
  page->binary(std::string(browser::kMaxMessageBytes + 2, '\0'));
  (void)page->rest();
  EXPECT_EQ(page->close_code(), 1009);
  EXPECT_EQ(calls_.end_of(id), "protocol_error");
}

TEST_F(BrowserPhoneTest, AHangUpInEachStateEndsTheCall) {
  {  // before the call began: nothing to end
    Page page(handoff_.port());
    page.close();
  }
  std::string id;
  {  // a close frame while the call listens
    auto page = call(id);
    page->binary(tone_20ms());
    page->close();
    EXPECT_EQ(calls_.end_of(id), "caller_hangup");
  }
  {  // a close frame while the bot speaks
    auto page = call(id);
    auto audio = calls_.started(1).second;
    std::vector<Sample> speech(16000, 1000);
    (void)audio->enqueue_audio(speech);
    page->text(R"({"type":"dtmf","digit":"5"})");
    EXPECT_TRUE(page->await_audio(3));
    page->close();
    EXPECT_EQ(calls_.end_of(id), "caller_hangup");
    EXPECT_EQ(audio->pop_dtmf(), '5');
  }
  {  // the connection is dropped without a close frame
    auto page = call(id);
    page->drop();
    EXPECT_EQ(calls_.end_of(id), "connection_lost");
  }
  {  // the bot hangs up: the page is told, then a normal close
    auto page = call(id);
    calls_.started(3).second->close();
    const auto rest = page->rest();
    ASSERT_FALSE(rest.empty());
    EXPECT_EQ(rest.back(), json::parse(R"({"type":"ended","reason":"bot_hangup"})"));
    EXPECT_EQ(page->close_code(), 1000);
    EXPECT_EQ(calls_.end_of(id), "bot_hangup");
  }
  {  // the server stops
    auto page = call(id);
    phone_.stop();
    const auto rest = page->rest();
    ASSERT_FALSE(rest.empty());
    EXPECT_EQ(rest.back()["reason"], "shutdown");
    EXPECT_EQ(page->close_code(), 1001);
    EXPECT_EQ(calls_.end_of(id), "shutdown");
  }
}

TEST_F(BrowserPhoneTest, ARefusedCallIsToldWhy) {
  calls_.refuse = true;
  Page page(handoff_.port());
  page.text(start_message());
  const auto rest = page.rest();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0]["reason"], "refused");
  EXPECT_NE(rest[0].value("error", "").find("no more calls"), std::string::npos) << rest[0];
  EXPECT_EQ(page.close_code(), 1013);
}

class BrowserPhoneCapTest : public BrowserPhoneTest {
 protected:
  BrowserPhoneCapTest() : BrowserPhoneTest(1) {}
};

TEST_F(BrowserPhoneCapTest, BeyondTheCapACallIsRefused) {
  std::string id;
  auto first = call(id);
  Page second(handoff_.port());
  second.text(start_message());
  const auto rest = second.rest();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0]["reason"], "refused");
  EXPECT_NE(rest[0].value("error", "").find("too many browser calls"), std::string::npos);
  EXPECT_EQ(second.close_code(), 1013);
  EXPECT_EQ(calls_.calls(), 1u);
  // Once the first is over, there is room again.
  first->close();
  EXPECT_EQ(calls_.end_of(id), "caller_hangup");
  std::this_thread::sleep_for(100ms);
  auto third = call(id);
  EXPECT_EQ(calls_.calls(), 2u);
}

}  // namespace
}  // namespace chalkbot
