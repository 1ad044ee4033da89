// Avatar images: the type from the magic bytes, and a strict structural
// parse that keeps only what renders the image. No pixel is decoded: the
// container is walked, every length (and, for PNG, every CRC) is checked, and
// the image is rebuilt from the chunks or segments kept, so text, metadata,
// unknown chunks and anything after the image's end (the HTML or SVG of a
// magic-byte polyglot) are gone. What does not parse is refused.
//
// Kept — PNG: IHDR, PLTE, tRNS, gAMA, cHRM, sRGB, IDAT, IEND (ancillary
// text, iCCP, EXIF, APNG animation chunks and unknown ones dropped; an
// unknown critical chunk is refused). JPEG: every segment up to EOI except
// COM and APPn other than APP0 (JFIF) and APP14 (Adobe colour transform); so
// Exif (orientation, but also GPS position) and XMP go. WebP: the RIFF
// container cut to its declared size, VP8X (its ICC/EXIF/XMP flags cleared),
// VP8, VP8L, ALPH, ANIM, ANMF (EXIF, XMP, ICCP and unknown chunks dropped).
//
// Compressed image data (PNG IDAT, JPEG scans, VP8 bitstreams) is kept as it
// is and can still hold arbitrary bytes; the avatar route's headers
// (Content-Security-Policy: sandbox, nosniff, Content-Disposition) are the
// layer that covers that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gh::domain {

/// Unsigned 32-bit big-endian (PNG) and little-endian (RIFF) integers at
/// `at`; the caller checks that 4 bytes are there.
inline std::uint32_t be32(std::string_view b, std::size_t at) {
  return std::uint32_t(std::uint8_t(b[at])) << 24 | std::uint32_t(std::uint8_t(b[at + 1])) << 16 |
         std::uint32_t(std::uint8_t(b[at + 2])) << 8 | std::uint32_t(std::uint8_t(b[at + 3]));
}
inline std::uint32_t le32(std::string_view b, std::size_t at) {
  return std::uint32_t(std::uint8_t(b[at])) | std::uint32_t(std::uint8_t(b[at + 1])) << 8 |
         std::uint32_t(std::uint8_t(b[at + 2])) << 16 | std::uint32_t(std::uint8_t(b[at + 3])) << 24;
}

/// CRC-32 (ISO 3309, as PNG uses it; zlib's).
std::uint32_t crc32(std::string_view data);

/// "image/png", "image/jpeg" or "image/webp" from the first bytes, else "".
std::string image_type(std::string_view bytes);

/// The file extension of a type from image_type(): "png", "jpg", "webp" ("bin" otherwise).
std::string image_extension(std::string_view type);

/// The image of type `type` rebuilt from the parts that render it, or
/// nullopt with `why` (client-safe) when its structure does not parse.
std::optional<std::string> strip_image(std::string_view bytes, std::string_view type, std::string& why);

}  // namespace gh::domain
