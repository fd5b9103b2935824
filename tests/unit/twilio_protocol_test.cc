// Twilio Media Streams' text parts: the request signature (checked against the worked example
// in Twilio's security documentation), form decoding, base64 and the TwiML.
#include <gtest/gtest.h>

#include <string>

#include "transport/twilio_protocol.h"
#include "transport/twilio_server.h"

namespace chalkbot::twilio {
namespace {

TEST(TwilioProtocol, SignatureMatchesTwiliosDocumentedExample) {
  const FormFields posted{{"To", "+18005551212"},
                          {"CallSid", "CA1234567890ABCDE"},
                          {"From", "+14158675309"},
                          {"Caller", "+14158675309"},
                          {"Digits", "1234"}};  // any order: the fields are sorted by name
  EXPECT_EQ(signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", posted),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
  EXPECT_NE(signature("12346", "https://mycompany.com/myapp.php?foo=1&bar=2", posted),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
}

TEST(TwilioProtocol, SignatureComparisonNeedsEveryByte) {
  EXPECT_TRUE(signature_matches("RSOYDt4T1cUTdK1PDd93/VVr8B8=", "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
  EXPECT_FALSE(signature_matches("RSOYDt4T1cUTdK1PDd93/VVr8B8=", "RSOYDt4T1cUTdK1PDd93/VVr8B9="));
  EXPECT_FALSE(signature_matches("RSOYDt4T1cUTdK1PDd93/VVr8B8=", ""));
  EXPECT_FALSE(signature_matches("RSOYDt4T1cUTdK1PDd93/VVr8B8=", "RSOYDt4T1cUTdK1PDd93/VVr8B8"));
}

TEST(TwilioProtocol, FormFieldsAreDecoded) {
  const auto fields = parse_form("From=%2B14158675309&CallerName=Ada+Lovelace&Empty=&Flag");
  ASSERT_TRUE(fields);
  ASSERT_EQ(fields->size(), 4u);
  EXPECT_EQ((*fields)[0], (std::pair<std::string, std::string>{"From", "+14158675309"}));
  EXPECT_EQ((*fields)[1].second, "Ada Lovelace");
  EXPECT_EQ((*fields)[2].second, "");
  EXPECT_EQ((*fields)[3].first, "Flag");
  EXPECT_FALSE(parse_form("From=%2"));
  EXPECT_FALSE(parse_form("From=%zz"));
}

TEST(TwilioProtocol, Base64RoundTripsAndRefusesWhatIsNot) {
  for (const std::string text : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(base64_decode(base64_encode(text)), text);
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");  // RFC 4648's test vectors
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_decode("Zm8"), "fo");
  EXPECT_FALSE(base64_decode("!!!"));
  EXPECT_FALSE(base64_decode("Zm9vY"));  // one character too many
  const std::string ulaw(160, static_cast<char>(0xff));  // 20 ms of u-law silence
  EXPECT_EQ(base64_encode(ulaw).size(), 216u);
}

TEST(TwilioProtocol, TwimlConnectsABidirectionalStreamAndEscapes) {
  const std::string twiml =
      connect_stream_twiml("wss://bot.example.com/twilio/stream", "+1555\"<&>", "+1555000");
  EXPECT_NE(twiml.find("<Response><Connect><Stream url=\"wss://bot.example.com/twilio/stream\">"),
            std::string::npos)
      << twiml;
  EXPECT_NE(twiml.find("<Parameter name=\"from\" value=\"+1555&quot;&lt;&amp;&gt;\"/>"),
            std::string::npos)
      << twiml;
  EXPECT_NE(twiml.find("</Stream></Connect></Response>"), std::string::npos);
}

TEST(TwilioProtocol, StreamUrlIsThePublicUrlOverWebSocket) {
  EXPECT_EQ(TwilioServer::stream_url("https://bot.example.com"),
            "wss://bot.example.com/twilio/stream");
  EXPECT_EQ(TwilioServer::stream_url("https://bot.example.com/"),
            "wss://bot.example.com/twilio/stream");
  EXPECT_EQ(TwilioServer::stream_url("http://127.0.0.1:9093"), "ws://127.0.0.1:9093/twilio/stream");
}

}  // namespace
}  // namespace chalkbot::twilio
