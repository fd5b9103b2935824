#include "speech/asr/moonshine_tokens.h"

#include <fstream>

namespace chalkbot {
namespace {

constexpr std::size_t kVocabularySize = 32000;
constexpr std::int64_t kFirstPlainPiece = 3;  // 0..2 are <unk>, <s>, </s>
const std::string kWordBoundary = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

// "<0xHH>" -> HH, or -1.
int byte_piece(const std::string& piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  int value = 0;
  for (char c : piece.substr(3, 2)) {
    value *= 16;
    if (c >= '0' && c <= '9') {
      value += c - '0';
    } else if (c >= 'A' && c <= 'F') {
      value += c - 'A' + 10;
    } else {
      return -1;
    }
  }
  return value;
}

// Length of the valid UTF-8 sequence at text[i], or 0.
std::size_t utf8_sequence(const std::string& text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  std::size_t length = 0;
  unsigned min = 0;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, min = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, min = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  unsigned code = lead & (0x7F >> length);
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i + k) & 0x3F);
  }
  if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return length;
}

std::string valid_utf8(const std::string& bytes) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size();) {
    const std::size_t length = utf8_sequence(bytes, i);
    if (length == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      out.append(bytes, i, length);
      i += length;
    }
  }
  return out;
}

}  // namespace

Result<MoonshineTokens> MoonshineTokens::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error("'" + path + "' not found");
  std::vector<std::string> pieces;
  pieces.reserve(kVocabularySize);
  for (std::string line; std::getline(in, line);) pieces.push_back(line);
  if (pieces.size() != kVocabularySize || pieces[kStart] != "<s>" || pieces[kEnd] != "</s>") {
    return make_error("'" + path + "' is not Moonshine's token table (expected " +
                      std::to_string(kVocabularySize) + " pieces, <s> and </s> at 1 and 2; got " +
                      std::to_string(pieces.size()) + " lines)");
  }
  return MoonshineTokens(std::move(pieces));
}

std::string MoonshineTokens::decode(std::span<const std::int64_t> ids) const {
  std::string bytes;
  for (const std::int64_t id : ids) {
    if (id < kFirstPlainPiece || id >= static_cast<std::int64_t>(pieces_.size())) continue;
    const std::string& piece = pieces_[static_cast<std::size_t>(id)];
    if (const int byte = byte_piece(piece); byte >= 0) {
      bytes += static_cast<char>(byte);
    } else {
      bytes += piece;
    }
  }
  std::string text = valid_utf8(bytes);
  for (std::size_t at = text.find(kWordBoundary); at != std::string::npos;
       at = text.find(kWordBoundary, at + 1)) {
    text.replace(at, kWordBoundary.size(), " ");
  }
  if (!text.empty() && text.front() == ' ') text.erase(0, 1);
  return text;
}

}  // namespace chalkbot
