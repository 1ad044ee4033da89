// The next record of the audit hash chain, for every engine: what it links
// to, whether it is keyed, and the one refusal (an unkeyed append to a chain
// that was ever keyed). The engine reads the head and stores the record.
#pragma once

#include "domain/audit.hpp"
#include "store/store.hpp"

#include <functional>
#include <string>

namespace gh::store {

/// The record after the head (`head_seq`, `head_hash`; 0 and "" for an empty
/// chain) for `canonical`: linked with `key` from record `keyed_from` on.
/// `keyed_mark` reads whether the store says the chain was ever keyed (ok:
/// it was); an append that would be unkeyed then is unavailable.
inline Status next_audit_record(std::uint64_t head_seq, std::string head_hash, const std::string& canonical,
                                const std::string& key, std::uint64_t keyed_from,
                                const std::function<Status()>& keyed_mark, AuditRecord& out) {
  if (head_hash.empty()) head_hash.assign(32, '\0');
  bool keyed = !key.empty() && head_seq + 1 >= keyed_from;
  if (!keyed) {
    Status st = keyed_mark();
    if (st.ok()) return Status::Unavailable("the audit chain is keyed and no key is set");
    if (st.failed()) return st;
  }
  auto hash = domain::audit_chain_hash(head_hash, canonical, keyed ? key : std::string());
  out = AuditRecord{head_seq + 1, std::move(head_hash), std::move(hash), canonical};
  return Status::OK();
}

}  // namespace gh::store
