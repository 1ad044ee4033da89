// What a notification says, and how it becomes an email (RFC 5322, a
// text and an HTML part) from the templates in config/templates/.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace gh::domain {

/// One message to one user. `kind` names its template: magic_link,
/// verify_email, reset_password, password_changed, account_exists.
struct Notification {
  std::string kind;
  std::string to;       ///< email address
  std::string link;     ///< may be empty (security alerts)
  std::int64_t expires_at = 0;
  std::string request_id;
  std::string trace_id, span_id;  ///< the request's trace, for the delivery span
  std::map<std::string, std::string> vars;  ///< more placeholders of its template
};

struct Rendered {
  std::string subject, text, html;
};

/// Templates per kind: `<kind>.txt` (first line "Subject: …", then the body)
/// and `<kind>.html`. Placeholders: {{link}}, {{email}}, {{expires_minutes}},
/// and the notification's own `vars` (password_changed: {{sessions_revoked}},
/// {{api_tokens_revoked}}).
/// In HTML, substituted values are escaped.
class Templates {
 public:
  /// Reads every kind from `dir`; false with `why` if one is missing.
  bool load(const std::string& dir, std::string& why);
  Rendered render(const Notification& n, std::int64_t now) const;

 private:
  std::map<std::string, std::pair<std::string, std::string>> kinds_;  // txt, html
};

/// The full RFC 5322 message (CRLF line ends, multipart/alternative).
std::string rfc5322(const std::string& from, const Notification& n, const Rendered& r,
                    std::int64_t now, const std::string& message_id);

/// `link` with the value of its token= parameter replaced by "…redacted…"
/// (for the log driver); a link without one is returned as it is.
std::string redact_link(const std::string& link);

/// Escapes &, <, >, " and ' for HTML text and attributes.
std::string html_escape(const std::string& s);

}  // namespace gh::domain
