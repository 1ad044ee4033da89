#include "http/body_guard.hpp"

#include "domain/ascii.hpp"

#include <algorithm>
#include <cctype>

namespace gh::http {
namespace {

// Heads longer than this are left to the parser and the header-size check
// (431): the guard never holds more.
constexpr std::size_t kMaxHead = 16 * 1024;
// Heads whose combined header waits for the parser; only the oldest is ever
// taken, so a flood of pipelined heads keeps no more than this.
constexpr std::size_t kMaxPendingHeads = 64;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool named(std::string_view line, std::string_view name) {
  return line.size() > name.size() && line[name.size()] == ':' &&
         domain::ascii_istarts_with(line, name);
}

// A Host value (RFC 9110 §7.2, RFC 3986 authority without userinfo): empty,
// or reg-name / IPv4 / [IP-literal] characters with an optional :port.
bool valid_host(std::string_view v) {
  return std::all_of(v.begin(), v.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("-._~!$&'()*+,;=:[]%").find(c) != std::string_view::npos;
  });
}

}  // namespace

BodyGuard::BodyGuard(std::function<std::uint64_t(std::string_view, std::string_view)> limit,
                     std::string combine)
    : limit_(std::move(limit)), combine_(std::move(combine)) {}

std::optional<BodyGuard::Head> BodyGuard::take() {
  if (heads_.empty()) return std::nullopt;
  auto v = std::move(heads_.front());
  heads_.clear();
  return v;
}

std::string_view BodyGuard::parser_bytes(std::string_view input) const {
  // A cut line is always in the first head of the input, before pass_bytes().
  std::string_view out = cut_len_ > 0 ? std::string_view(rewritten_) : input;
  return refused_ ? out.substr(0, pass_bytes_ - cut_len_) : out;  // refused_: pipelined
}

BodyGuard::Verdict BodyGuard::feed(std::string_view bytes, bool idle) {
  if (refused_) return Verdict::dropped;
  const std::string_view input = bytes;
  const std::size_t total = bytes.size();
  bool busy = !idle;     // a request before these bytes is not answered yet
  std::size_t done = 0;  // where the last request completed in these bytes ends
  std::size_t head_at = std::string::npos;  // where a head begun in these bytes starts
  cut_len_ = 0;
  while (!bytes.empty() && !passthrough_) {
    if (body_left_ > 0) {
      auto n = static_cast<std::size_t>(std::min<std::uint64_t>(body_left_, bytes.size()));
      body_left_ -= n;
      bytes.remove_prefix(n);
      if (body_left_ == 0) done = total - bytes.size();
      continue;
    }
    // Between requests: stray CRLFs are allowed (RFC 9112 §2.2); anything
    // else starts a request, which is pipelined if one is still pending.
    if (head_.empty()) {
      while (!bytes.empty() && (bytes.front() == '\r' || bytes.front() == '\n')) bytes.remove_prefix(1);
      if (bytes.empty()) break;
      if (busy) {
        pass_bytes_ = done;
        refused_ = true;
        return Verdict::pipelined;
      }
      head_at = total - bytes.size();
    }
    // In a head: take bytes up to its blank line.
    std::size_t from = head_.size() < 3 ? 0 : head_.size() - 3;
    std::size_t take = bytes.size();
    head_.append(bytes.substr(0, take));
    auto end = head_.find("\r\n\r\n", from);
    if (end == std::string::npos) {
      if (head_.size() > kMaxHead) passthrough_ = true;
      return Verdict::pass;
    }
    // Give back what follows the head (the body, or a pipelined request).
    std::size_t extra = head_.size() - (end + 4);
    head_.resize(end + 4);
    bytes = bytes.substr(bytes.size() - extra);
    // The Authorization line comes off only when the whole head is in these
    // bytes (the parser has seen none of it yet).
    bool whole = head_at != std::string::npos;
    auto v = judge_head(whole);
    if (cut_len_ > 0) {
      cut_at_ += head_at;
      rewritten_.assign(input.substr(0, cut_at_));
      rewritten_.append(input.substr(cut_at_ + cut_len_));
    }
    head_at = std::string::npos;
    head_.clear();
    if (v != Verdict::pass) {
      refused_ = true;
      return v;
    }
    busy = true;  // this request is now before any further bytes
    if (body_left_ == 0) done = total - bytes.size();
  }
  return Verdict::pass;
}

// `strip`: take the Authorization line off (cut_at_, cut_len_: where it is
// in head_) and keep its value in the head's record.
BodyGuard::Verdict BodyGuard::judge_head(bool strip) {
  std::string_view head(head_);
  while (head.size() >= 2 && head.substr(0, 2) == "\r\n") head.remove_prefix(2);  // stray CRLFs between requests
  auto eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  auto sp1 = line.find(' ');
  auto sp2 = line.find(' ', sp1 == std::string_view::npos ? sp1 : sp1 + 1);
  std::string_view method = line.substr(0, sp1);
  std::string_view path = sp1 == std::string_view::npos ? std::string_view() : line.substr(sp1 + 1, sp2 - sp1 - 1);
  path = path.substr(0, path.find('?'));

  bool seen = false, chunked = false;
  int hosts = 0, authorizations = 0;
  bool host_ok = true;
  std::uint64_t length = 0;
  Head record;
  std::size_t auth_at = 0, auth_len = 0;
  for (auto pos = eol; pos != std::string_view::npos && pos + 2 < head.size();) {
    auto next = head.find("\r\n", pos + 2);
    auto h = head.substr(pos + 2, next - pos - 2);
    if (named(h, "Authorization")) {
      ++authorizations;
      auth_at = static_cast<std::size_t>(h.data() - head_.data());
      auth_len = h.size() + 2;
      record.authorization = std::string(trim(h.substr(14)));
    }
    pos = next;
    if (!combine_.empty() && named(h, combine_)) {
      auto v = trim(h.substr(combine_.size() + 1));
      if (!v.empty()) record.combined.append(record.combined.empty() ? "" : ", ").append(v);
    }
    if (named(h, "Transfer-Encoding")) chunked = true;
    if (named(h, "Host")) {
      ++hosts;
      host_ok = host_ok && valid_host(trim(h.substr(5)));
    }
    if (!named(h, "Content-Length")) continue;
    auto v = trim(h.substr(15));
    // One plain decimal number, at most 18 digits (no sign, no list, no overflow).
    if (seen || v.empty() || v.size() > 18 ||
        !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      request_line_ = std::string(line.substr(0, 200));
      return Verdict::bad_length;
    }
    seen = true;
    length = std::stoull(std::string(v));
  }
  // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any
  // request with more than one Host line or an invalid Host value.
  bool http11 = line.size() >= 8 && line.substr(line.size() - 8) == "HTTP/1.1";
  if (hosts > 1 || !host_ok || (hosts == 0 && http11)) {
    request_line_ = std::string(line.substr(0, 200));
    return Verdict::bad_host;
  }
  if (chunked) {
    request_line_ = std::string(line.substr(0, 200));
    return Verdict::length_required;
  }
  if (authorizations > 1) {
    request_line_ = std::string(line.substr(0, 200));
    return Verdict::two_authorizations;
  }
  if (length > limit_(method, path)) {
    request_line_ = std::string(line.substr(0, 200));
    return Verdict::too_large;
  }
  body_left_ = length;
  if (strip && authorizations == 1) {
    cut_at_ = auth_at;
    cut_len_ = auth_len;
  } else {
    record.authorization.reset();
  }
  if (heads_.size() < kMaxPendingHeads) heads_.push_back(std::move(record));
  return Verdict::pass;
}

}  // namespace gh::http
