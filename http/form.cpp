#include "http/form.hpp"

namespace gh::http {
namespace {

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      char d = static_cast<char>(hi * 16 + lo);
      if (d == '\0') return false;
      out += d;
      i += 2;
    } else if (c == '\0') {
      return false;
    } else {
      out += c;
    }
  }
  return true;
}

}  // namespace

std::optional<std::map<std::string, std::string>> parse_form(std::string_view body,
                                                             std::string& why) {
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start < body.size()) {
    auto end = body.find('&', start);
    if (end == std::string_view::npos) end = body.size();
    auto pair = body.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    std::string key, value;
    if (!decode(pair.substr(0, eq), key) ||
        (eq != std::string_view::npos && !decode(pair.substr(eq + 1), value))) {
      why = "malformed form encoding";
      return std::nullopt;
    }
    if (out.size() >= 32) {
      why = "too many form parameters";
      return std::nullopt;
    }
    if (!out.emplace(std::move(key), std::move(value)).second) {
      why = "a form parameter is repeated";
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace gh::http
