// Judges each request's head on the raw bytes of a connection, before
// Pistache's parser sees them. Pistache 0.0.5 reserves Content-Length
// bytes as soon as it has the headers and then waits for the body, and it
// answers a malformed length with a plain-text 500; the brief's SECURITY.md case 3 wants
// 413 (or 400) at once, without buffering. It also answers requests without
// a Host (or with two), and drops every request after the first in one read
// (its parser resets its buffer after a request): the guard refuses the
// first (RFC 9112 §3.2) and reports the second, so the server closes the
// connection after the first answer instead of losing a request silently.
//
// It also takes the Authorization line off a head that arrives whole in one
// read, before the parser sees it: Pistache's header parser costs about 100
// instructions per byte, and a bearer token is most of a token check's
// request. The server reads the value from take() instead; a head split over
// reads keeps the line, and Pistache parses it as any other header.
// Pure logic: unit-tested alone.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace gh::http {

class BodyGuard {
 public:
  enum class Verdict {
    pass,        ///< hand the bytes to the HTTP parser
    too_large,   ///< the declared body is over the route's limit: answer 413
    bad_length,  ///< Content-Length is not one plain decimal number: answer 400
    /// A Transfer-Encoding body (chunked): answer 411. Pistache 0.0.5's chunk
    /// parser reads past its buffer (strtol on unterminated bytes; found by
    /// fuzzing), so chunked request bodies never reach it.
    length_required,
    /// No Host header in an HTTP/1.1 request, more than one Host line, or a
    /// Host value that is not an authority (RFC 9112 §3.2): answer 400.
    bad_host,
    /// More than one Authorization line (a singleton field, RFC 9110 §11.6.2):
    /// answer 400 rather than pick one.
    two_authorizations,
    /// Another request follows a complete one in the same input, or begins
    /// while an earlier one still awaits its answer (`idle` false): hand only
    /// the first pass_bytes() bytes to the parser and close the connection
    /// after the answer. The rest of the connection is ignored.
    pipelined,
    dropped,     ///< after a refusal, the rest of the connection is ignored
  };

  /// `limit(method, path)`: the largest body the route accepts, in bytes.
  /// `combine`: a header (e.g. "X-Forwarded-For") whose field lines the guard
  /// joins for take_combined(); empty: none.
  explicit BodyGuard(std::function<std::uint64_t(std::string_view, std::string_view)> limit,
                     std::string combine = {});

  /// Consumes the next bytes read from the connection. `idle`: no earlier
  /// request of this connection is still waiting for its answer. A refusal
  /// (or `pipelined`) is returned once; every later call says `dropped`.
  Verdict feed(std::string_view bytes, bool idle = true);

  /// After `pipelined`: how many bytes of that input belong to the requests
  /// before the pipelined one (0 when it starts the input).
  std::size_t pass_bytes() const { return pass_bytes_; }

  /// After `pass` or `pipelined`: the bytes of that input to hand the parser
  /// (all of them, or the first pass_bytes()), less an Authorization line the
  /// guard took off. Points into `input` or into the guard (valid until the
  /// next feed).
  std::string_view parser_bytes(std::string_view input) const;

  /// Ignores the rest of the connection (the parser refused a request and
  /// the stream cannot be trusted to be in step any more), and forgets the
  /// heads not taken yet: the refused request never reaches take_combined(),
  /// so its header must not be handed to anything after it.
  void stop() {
    refused_ = true;
    heads_.clear();
  }

  /// What the guard kept of a request head for the server.
  struct Head {
    /// Every field line of the `combine` header, joined with ", " (RFC 9110
    /// §5.3; "" when it had none). Pistache 0.0.5 keeps only one line of a
    /// repeated header, and a proxy appends its own line after the client's.
    std::string combined;
    /// The Authorization value when the guard took its line off the bytes
    /// (nullopt: the parser saw the line, if there was one).
    std::optional<std::string> authorization;
  };

  /// The oldest head not yet taken; nullopt when the guard saw no such head.
  /// Heads after the taken one are forgotten: Pistache's parser drops the
  /// requests pipelined behind the one it serves.
  std::optional<Head> take();

  /// The request line of the refused request ("POST /auth/login HTTP/1.1").
  const std::string& request_line() const { return request_line_; }

 private:
  Verdict judge_head(bool strip);

  std::function<std::uint64_t(std::string_view, std::string_view)> limit_;
  std::string combine_;
  std::deque<Head> heads_;        ///< per complete head, oldest first
  std::string head_;              ///< the current request head, up to its blank line
  std::size_t cut_at_ = 0, cut_len_ = 0;  ///< the Authorization line taken off the input
  std::string rewritten_;         ///< the input without that line
  std::uint64_t body_left_ = 0;   ///< bytes of the current body still to come
  bool passthrough_ = false;      ///< oversized head: the parser's own limits apply
  bool refused_ = false;
  std::size_t pass_bytes_ = 0;
  std::string request_line_;
};

}  // namespace gh::http
