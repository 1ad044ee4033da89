// Fuzzes gh::domain::image_type and strip_image, run on every avatar upload
// (attacker-chosen bytes, polyglots included).
//
// The first input byte is a mode, the rest the upload. Mode bit 0x80: before
// stripping, the harness rewrites every PNG chunk CRC it can walk to the
// right value, so mutations reach the chunk logic instead of dying at the
// CRC check; bit 0x40: a WebP's RIFF size is set to the data's length.
//
// Properties: a refusal has a reason; a type other than the sniffed one is
// refused; an accepted image is never longer than the upload, has the same
// sniffed type, is a fixed point (stripping it again gives it back
// unchanged) and ends where its format ends (PNG: IEND chunk; JPEG: EOI;
// WebP: RIFF size = length - 8), keeping only the documented chunks.
#include "domain/image.hpp"
#include "fuzz_check.hpp"

#include <cstring>
#include <string>

namespace {

using gh::domain::be32;
using gh::domain::crc32;
using gh::domain::le32;

void fix_png_crcs(std::string& b) {
  std::size_t pos = 8;
  while (b.size() >= pos + 12) {
    std::uint32_t len = be32(b, pos);
    if (len > b.size() - pos - 12) return;
    std::uint32_t c = crc32(std::string_view(b).substr(pos + 4, 4 + len));
    for (int i = 0; i < 4; ++i) b[pos + 8 + len + i] = static_cast<char>(c >> (24 - 8 * i));
    pos += 12 + len;
  }
}

// The PNG chunk types of a stripped image: it must walk cleanly to IEND.
void check_png(std::string_view out) {
  FUZZ_CHECK(out.size() >= 8 + 3 * 12);
  std::size_t pos = 8;
  bool first = true;
  while (true) {
    FUZZ_CHECK(out.size() - pos >= 12);
    std::uint32_t len = be32(out, pos);
    FUZZ_CHECK(len <= out.size() - pos - 12);
    auto type = out.substr(pos + 4, 4);
    FUZZ_CHECK(crc32(out.substr(pos + 4, 4 + len)) == be32(out, pos + 8 + len));
    FUZZ_CHECK(!first || type == "IHDR");
    first = false;
    FUZZ_CHECK(type == "IHDR" || type == "PLTE" || type == "tRNS" || type == "gAMA" || type == "cHRM" ||
               type == "sRGB" || type == "IDAT" || type == "IEND");
    pos += 12 + len;
    if (type == "IEND") break;
  }
  FUZZ_CHECK(pos == out.size());  // nothing after IEND
}

void check_webp(std::string_view out) {
  FUZZ_CHECK(out.size() >= 20);
  FUZZ_CHECK(le32(out, 4) == out.size() - 8);
  std::size_t pos = 12;
  bool image = false;
  while (pos < out.size()) {
    FUZZ_CHECK(out.size() - pos >= 8);
    auto fourcc = out.substr(pos, 4);
    std::uint32_t len = le32(out, pos + 4);
    FUZZ_CHECK(len <= out.size() - pos - 8);
    FUZZ_CHECK(fourcc == "VP8X" || fourcc == "VP8 " || fourcc == "VP8L" || fourcc == "ALPH" ||
               fourcc == "ANIM" || fourcc == "ANMF");
    if (fourcc == "VP8X") FUZZ_CHECK(pos == 12 && (std::uint8_t(out[pos + 8]) & 0x2c) == 0);
    if (fourcc == "VP8 " || fourcc == "VP8L" || fourcc == "ANMF") image = true;
    pos += 8 + len + (len & 1);
  }
  FUZZ_CHECK(pos == out.size());
  FUZZ_CHECK(image);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  std::string bytes(as_text(data + 1, size - 1));
  auto type = gh::domain::image_type(bytes);
  if (mode & 0x80 && type == "image/png") fix_png_crcs(bytes);
  if (mode & 0x40 && type == "image/webp") {
    auto n = static_cast<std::uint32_t>(bytes.size() - 8);
    for (int i = 0; i < 4; ++i) bytes[4 + i] = static_cast<char>(n >> (8 * i));
  }
  FUZZ_CHECK(type.empty() || type == "image/png" || type == "image/jpeg" || type == "image/webp");
  FUZZ_CHECK(!gh::domain::image_extension(type).empty());

  std::string why;
  // A declared type that is not the sniffed one is always refused.
  for (const char* other : {"image/png", "image/jpeg", "image/webp", ""}) {
    if (other == type) continue;
    why.clear();
    FUZZ_CHECK(!gh::domain::strip_image(bytes, other, why) && !why.empty());
  }
  why.clear();
  auto out = gh::domain::strip_image(bytes, type, why);
  if (!out) {
    FUZZ_CHECK(!why.empty());
    return 0;
  }
  FUZZ_CHECK(out->size() <= bytes.size());
  FUZZ_CHECK(gh::domain::image_type(*out) == type);
  if (type == "image/png") check_png(*out);
  if (type == "image/jpeg")
    FUZZ_CHECK(out->size() >= 4 && out->compare(0, 2, "\xff\xd8") == 0 &&
               out->compare(out->size() - 2, 2, "\xff\xd9") == 0);
  if (type == "image/webp") check_webp(*out);
  std::string why2;
  auto again = gh::domain::strip_image(*out, type, why2);
  FUZZ_CHECK(again && *again == *out);
  return 0;
}
