#include "domain/audit.hpp"

#include "domain/base64url.hpp"

#include <sodium.h>

namespace gh::domain {

std::string audit_line(const std::string& canonical, std::uint64_t seq, const std::string& hash) {
  auto j = nlohmann::json::parse(canonical, nullptr, false);
  if (!j.is_object()) j = nlohmann::json::object();
  j["seq"] = seq;
  j["hash"] = hex(hash);
  return j.dump();
}

std::string audit_chain_hash(const std::string& prev, const std::string& canonical, const std::string& key) {
  std::string in = prev + canonical, out(32, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     reinterpret_cast<const unsigned char*>(in.data()), in.size(),
                     key.empty() ? nullptr : reinterpret_cast<const unsigned char*>(key.data()), key.size());
  return out;
}

nlohmann::json AuditEvent::to_json() const {
  return {{"type", type},
          {"time", time},
          {"request_id", request_id},
          {"trace_id", trace_id},
          {"actor_user_id", actor_user_id},
          {"subject_user_id", subject_user_id},
          {"ip", ip},
          {"user_agent", user_agent},
          {"details", details}};
}

std::string AuditEvent::canonical() const {
  return to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool ChainVerifier::feed(const AuditRecord& r, std::string& problem) {
  if (r.seq != seq_ + 1) {
    problem = "record " + std::to_string(seq_ + 1) + " is missing (found " + std::to_string(r.seq) + ")";
    return false;
  }
  if (r.prev != hash_) {
    problem = "record " + std::to_string(r.seq) + " does not link to record " + std::to_string(seq_);
    return false;
  }
  if (r.seq >= keyed_from_ && key_.empty()) {
    problem = "record " + std::to_string(r.seq) + " is keyed: the audit key is needed to verify it";
    return false;
  }
  if (r.hash != audit_chain_hash(r.prev, r.canonical, r.seq >= keyed_from_ ? key_ : std::string())) {
    problem = "record " + std::to_string(r.seq) + " was altered (hash mismatch)";
    return false;
  }
  seq_ = r.seq;
  hash_ = r.hash;
  return true;
}

bool ChainVerifier::finish(std::uint64_t head_seq, const std::string& head_hash,
                           std::string& problem) const {
  if (head_seq != seq_ || (seq_ > 0 && head_hash != hash_)) {
    problem = "the log ends at record " + std::to_string(seq_) + " but its head says " +
              std::to_string(head_seq) + " (records removed from the end)";
    return false;
  }
  return true;
}

}  // namespace gh::domain
