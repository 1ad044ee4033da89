#include "domain/image.hpp"

#include <zlib.h>

#include <algorithm>

#include <cstdint>

namespace gh::domain {

std::uint32_t crc32(std::string_view data) {
  // zlib takes at most uInt bytes per call; an avatar is far below that.
  auto c = ::crc32(0L, Z_NULL, 0);
  for (std::size_t at = 0; at < data.size();) {
    auto n = static_cast<uInt>(std::min<std::size_t>(data.size() - at, 1u << 30));
    c = ::crc32(c, reinterpret_cast<const Bytef*>(data.data() + at), n);
    at += n;
  }
  return static_cast<std::uint32_t>(c);
}

namespace {

void put_le32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

std::optional<std::string> refuse(std::string& why, const char* reason) {
  why = reason;
  return std::nullopt;
}

bool valid_png_depth(int color, int depth) {
  switch (color) {
    case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2: case 4: case 6: return depth == 8 || depth == 16;
    default: return false;
  }
}

std::optional<std::string> strip_png(std::string_view b, std::string& why) {
  const std::size_t n = b.size();
  std::string out(b.substr(0, 8));
  std::size_t pos = 8;
  bool header = false, palette = false, in_idat = false, after_idat = false;
  int color = 0;
  while (true) {
    if (n - pos < 12) return refuse(why, "PNG: truncated chunk (no IEND)");
    std::uint32_t len = be32(b, pos);
    if (len > 0x7fffffffu || len > n - pos - 12) return refuse(why, "PNG: a chunk length runs past the end");
    std::string_view type = b.substr(pos + 4, 4);
    for (char c : type)
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return refuse(why, "PNG: invalid chunk type");
    std::string_view data = b.substr(pos + 8, len);
    if (crc32(b.substr(pos + 4, 4 + len)) != be32(b, pos + 8 + len)) return refuse(why, "PNG: chunk CRC mismatch");
    std::string_view chunk = b.substr(pos, 12 + len);
    pos += 12 + len;
    if (!header) {
      if (type != "IHDR" || len != 13) return refuse(why, "PNG: IHDR must come first");
      std::uint32_t w = be32(data, 0), h = be32(data, 4);
      int depth = std::uint8_t(data[8]);
      color = std::uint8_t(data[9]);
      if (w == 0 || h == 0 || w > 0x7fffffffu || h > 0x7fffffffu || !valid_png_depth(color, depth) ||
          data[10] != 0 || data[11] != 0 || std::uint8_t(data[12]) > 1)
        return refuse(why, "PNG: invalid IHDR");
      header = true;
      out.append(chunk);
      continue;
    }
    if (type == "IHDR") return refuse(why, "PNG: a second IHDR");
    if (in_idat && type != "IDAT") {
      in_idat = false;
      after_idat = true;
    }
    if (type == "IEND") {
      if (len != 0 || !after_idat) return refuse(why, "PNG: no image data before IEND");
      out.append(chunk);
      return out;  // anything after IEND is dropped
    }
    if (type == "IDAT") {
      if (after_idat) return refuse(why, "PNG: IDAT chunks must be consecutive");
      if (color == 3 && !palette) return refuse(why, "PNG: a palette image without PLTE");
      in_idat = true;
      out.append(chunk);
    } else if (type == "PLTE") {
      if (palette || in_idat || after_idat || color == 0 || color == 4 || len == 0 || len % 3 || len > 768)
        return refuse(why, "PNG: invalid PLTE");
      palette = true;
      out.append(chunk);
    } else if (type == "tRNS" || type == "gAMA" || type == "cHRM" || type == "sRGB") {
      if (!in_idat && !after_idat) out.append(chunk);  // only where they apply: before the image data
    } else if (type[0] >= 'A' && type[0] <= 'Z') {
      return refuse(why, "PNG: unknown critical chunk");
    }
    // Every other ancillary chunk (tEXt, zTXt, iTXt, iCCP, eXIf, acTL, ...) is dropped.
  }
}

bool is_sof(std::uint8_t m) { return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc; }

std::optional<std::string> strip_jpeg(std::string_view b, std::string& why) {
  const std::size_t n = b.size();
  std::string out("\xff\xd8", 2);
  std::size_t pos = 2;
  bool frame = false, scan = false;
  while (true) {
    if (pos >= n || std::uint8_t(b[pos]) != 0xff) return refuse(why, "JPEG: expected a marker (no EOI)");
    while (pos < n && std::uint8_t(b[pos]) == 0xff) ++pos;  // fill bytes
    if (pos >= n) return refuse(why, "JPEG: truncated (no EOI)");
    std::uint8_t m = std::uint8_t(b[pos++]);
    if (m == 0xd9) {
      if (!frame || !scan) return refuse(why, "JPEG: no frame or scan before EOI");
      out += "\xff\xd9";
      return out;  // anything after EOI is dropped
    }
    if (m == 0x00 || m == 0xd8 || (m >= 0xd0 && m <= 0xd7)) return refuse(why, "JPEG: unexpected marker");
    if (m == 0x01) {  // TEM: no length
      out += "\xff\x01";
      continue;
    }
    if (n - pos < 2) return refuse(why, "JPEG: truncated segment");
    std::size_t len = std::size_t(std::uint8_t(b[pos])) << 8 | std::uint8_t(b[pos + 1]);
    if (len < 2 || len > n - pos) return refuse(why, "JPEG: a segment length runs past the end");
    std::string_view data = b.substr(pos + 2, len - 2);
    std::string segment = std::string("\xff", 1) + static_cast<char>(m) + std::string(b.substr(pos, len));
    pos += len;
    bool app = m >= 0xe0 && m <= 0xef;
    bool keep_app = (m == 0xe0 && (data.substr(0, 5) == std::string_view("JFIF\0", 5) ||
                                   data.substr(0, 5) == std::string_view("JFXX\0", 5))) ||
                    (m == 0xee && data.substr(0, 5) == "Adobe");
    if (m == 0xfe || (app && !keep_app)) continue;  // COM, Exif, XMP, ICC, other APPn
    if (is_sof(m)) {
      if (frame || len < 8) return refuse(why, "JPEG: invalid frame header");
      frame = true;
    }
    out += segment;
    if (m != 0xda) continue;
    if (!frame) return refuse(why, "JPEG: a scan before the frame header");
    scan = true;
    // Entropy-coded data: up to the next marker that is neither a stuffed
    // 0xFF00 nor a restart marker (0xFF fill bytes may precede either).
    std::size_t start = pos;
    while (true) {
      auto ff = b.find('\xff', pos);
      auto after = ff == std::string_view::npos ? ff : b.find_first_not_of('\xff', ff);
      if (after == std::string_view::npos) return refuse(why, "JPEG: truncated scan (no EOI)");
      std::uint8_t next = std::uint8_t(b[after]);
      if (next == 0x00 || (next >= 0xd0 && next <= 0xd7)) {
        pos = after + 1;
        continue;
      }
      out.append(b.substr(start, ff - start));
      pos = ff;
      break;
    }
  }
}

std::optional<std::string> strip_webp(std::string_view b, std::string& why) {
  std::uint32_t riff = le32(b, 4);
  if (riff < 4 + 8 || riff > b.size() - 8) return refuse(why, "WebP: the RIFF size does not match the data");
  std::string_view body = b.substr(12, riff - 4);  // after "WEBP", cut to the declared size
  std::string chunks;
  std::size_t pos = 0;
  bool first = true, extended = false, image = false;
  while (pos < body.size()) {
    if (body.size() - pos < 8) return refuse(why, "WebP: truncated chunk header");
    std::string_view fourcc = body.substr(pos, 4);
    std::uint32_t len = le32(body, pos + 4);
    // An odd-sized chunk is followed by a padding byte (RIFF), which must be
    // there too: a missing one would make the stripped file longer than the upload.
    if (len > body.size() - pos - 8 || (len & 1 && len == body.size() - pos - 8))
      return refuse(why, "WebP: a chunk length runs past the RIFF size");
    std::string payload(body.substr(pos + 8, len));
    pos += 8 + len + (len & 1);
    bool keep = false;
    if (first) {
      if (fourcc == "VP8X") {
        if (len < 10) return refuse(why, "WebP: invalid VP8X");
        payload[0] = static_cast<char>(payload[0] & ~0x2c);  // no ICC, EXIF or XMP any more
        extended = keep = true;
      } else if (fourcc != "VP8 " && fourcc != "VP8L") {
        return refuse(why, "WebP: the first chunk must be VP8, VP8L or VP8X");
      }
      first = false;
    }
    if (fourcc == "VP8 ") {
      if (len < 10 || payload.compare(3, 3, "\x9d\x01\x2a") != 0) return refuse(why, "WebP: invalid VP8 frame");
      keep = image = true;
    } else if (fourcc == "VP8L") {
      if (len < 5 || std::uint8_t(payload[0]) != 0x2f) return refuse(why, "WebP: invalid VP8L stream");
      keep = image = true;
    } else if (fourcc == "ANMF") {
      if (!extended || len < 16) return refuse(why, "WebP: invalid animation frame");
      keep = image = true;
    } else if (fourcc == "ALPH" || fourcc == "ANIM") {
      keep = extended;
    }
    if (keep) {
      chunks.append(fourcc);
      put_le32(chunks, len);
      chunks.append(payload);
      if (len & 1) chunks += '\0';
    }
    if (image && !extended) break;  // the simple format has one image chunk; the rest is dropped
  }
  if (!image) return refuse(why, "WebP: no image data");
  std::string out("RIFF");
  put_le32(out, static_cast<std::uint32_t>(4 + chunks.size()));
  out += "WEBP";
  out += chunks;
  return out;
}

}  // namespace

std::string image_type(std::string_view b) {
  if (b.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) return "image/png";
  if (b.size() > 3 && b.substr(0, 3) == "\xff\xd8\xff") return "image/jpeg";
  if (b.size() > 12 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") return "image/webp";
  return {};
}

std::string image_extension(std::string_view type) {
  if (type == "image/png") return "png";
  if (type == "image/jpeg") return "jpg";
  if (type == "image/webp") return "webp";
  return "bin";
}

std::optional<std::string> strip_image(std::string_view bytes, std::string_view type, std::string& why) {
  if (type.empty() || type != image_type(bytes)) return refuse(why, "not a PNG, JPEG or WebP image");
  if (type == "image/png") return strip_png(bytes, why);
  if (type == "image/jpeg") return strip_jpeg(bytes, why);
  return strip_webp(bytes, why);
}

}  // namespace gh::domain
