#include "domain/mail.hpp"

#include "domain/base64url.hpp"

#include <ctime>
#include <fstream>
#include <sstream>

namespace gh::domain {
namespace {

const char* kKinds[] = {"magic_link", "verify_email", "reset_password", "password_changed",
                        "account_exists"};

std::string read_file(const std::string& path, bool& ok) {
  std::ifstream in(path);
  ok = static_cast<bool>(in);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string substitute(std::string s, const std::map<std::string, std::string>& vars) {
  for (auto& [k, v] : vars) {
    std::string key = "{{" + k + "}}";
    for (auto pos = s.find(key); pos != std::string::npos; pos = s.find(key, pos + v.size()))
      s.replace(pos, key.size(), v);
  }
  return s;
}

// Header values never carry CR or LF (no header injection through an address).
std::string header_safe(std::string s) {
  for (char& c : s)
    if (c == '\r' || c == '\n') c = ' ';
  return s;
}

std::string crlf(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) out += '\r';
    out += s[i];
  }
  return out;
}

}  // namespace

std::string redact_link(const std::string& link) {
  for (auto at = link.find("token="); at != std::string::npos; at = link.find("token=", at + 1)) {
    if (at == 0 || (link[at - 1] != '?' && link[at - 1] != '&')) continue;
    auto start = at + 6, end = link.find_first_of("&#", start);
    return link.substr(0, start) + "\u2026redacted\u2026" + (end == std::string::npos ? "" : link.substr(end));
  }
  return link;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

bool Templates::load(const std::string& dir, std::string& why) {
  for (const char* kind : kKinds) {
    bool ok1 = false, ok2 = false;
    auto txt = read_file(dir + "/" + kind + ".txt", ok1);
    auto html = read_file(dir + "/" + kind + ".html", ok2);
    if (!ok1 || !ok2 || txt.rfind("Subject: ", 0) != 0) {
      why = std::string("template ") + kind + " missing or without a Subject line in " + dir;
      return false;
    }
    kinds_[kind] = {txt, html};
  }
  return true;
}

Rendered Templates::render(const Notification& n, std::int64_t now) const {
  auto it = kinds_.find(n.kind);
  if (it == kinds_.end()) return {n.kind, n.link, html_escape(n.link)};
  std::map<std::string, std::string> vars = {
      {"link", n.link}, {"email", n.to},
      {"expires_minutes", std::to_string(n.expires_at > now ? (n.expires_at - now + 59) / 60 : 0)}};
  vars.insert(n.vars.begin(), n.vars.end());
  auto text = substitute(it->second.first, vars);
  auto nl = text.find('\n');
  Rendered r;
  r.subject = header_safe(text.substr(9, nl == std::string::npos ? std::string::npos : nl - 9));
  r.text = nl == std::string::npos ? "" : text.substr(nl + 1);
  for (auto& [k, v] : vars) v = html_escape(v);
  r.html = substitute(it->second.second, vars);
  return r;
}

std::string rfc5322(const std::string& from, const Notification& n, const Rendered& r,
                    std::int64_t now, const std::string& message_id) {
  char date[64];
  std::time_t t = static_cast<std::time_t>(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  std::string boundary = "=_gatehouse_" + hex(random_bytes(8));
  std::ostringstream m;
  m << "From: " << header_safe(from) << "\r\n"
    << "To: " << header_safe(n.to) << "\r\n"
    << "Subject: " << r.subject << "\r\n"
    << "Date: " << date << "\r\n"
    << "Message-ID: <" << header_safe(message_id) << ">\r\n"
    << "MIME-Version: 1.0\r\n"
    << "Content-Type: multipart/alternative; boundary=\"" << boundary << "\"\r\n"
    << "\r\n"
    << "--" << boundary << "\r\n"
    << "Content-Type: text/plain; charset=utf-8\r\n"
    << "Content-Transfer-Encoding: 8bit\r\n\r\n"
    << crlf(r.text) << "\r\n"
    << "--" << boundary << "\r\n"
    << "Content-Type: text/html; charset=utf-8\r\n"
    << "Content-Transfer-Encoding: 8bit\r\n\r\n"
    << crlf(r.html) << "\r\n"
    << "--" << boundary << "--\r\n";
  return m.str();
}

}  // namespace gh::domain
