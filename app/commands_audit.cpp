// gatehouse audit verify | export: read the MAC-chained audit log offline.
#include <fstream>
#include <iostream>

#include "domain/audit.hpp"
#include "domain/base64url.hpp"
#include "app/commands.hpp"
#include "telemetry/log.hpp"

namespace gh::app {

bool check_audit_chain(store::Store& db, const store::Txn& t, const AuditKey* key, std::uint64_t from,
                       std::uint64_t& last, std::string& problem) {
  auto v = key ? domain::ChainVerifier(key->key, key->keyed_from) : domain::ChainVerifier();
  bool ok = true, first = true;
  db.audit_after(t, from > 0 ? from - 1 : 0,
                 [&](std::uint64_t seq, const std::string& prev, const std::string& hash,
                     const std::string& canonical) {
                   if (first && from > 1) v.start_after(seq - 1, prev);  // a tail check trusts the link into it
                   first = false;
                   ok = v.feed({seq, prev, hash, canonical}, problem);
                   return ok;
                 });
  auto [head_seq, head_hash] = db.audit_head(t);
  if (ok && first && from > 1 && head_seq >= from) {
    ok = false;
    problem = "records " + std::to_string(from) + " to " + std::to_string(head_seq) + " are missing";
  }
  if (ok) ok = v.finish(head_seq, head_hash, problem);
  last = v.count();
  return ok;
}

bool check_audit_anchor(store::Store& db, const store::Txn& t, const std::string& sink_file,
                        std::string& problem) {
  std::ifstream in(sink_file, std::ios::binary);
  if (!in) return true;
  // Only the end of the file matters: its last complete record is the anchor.
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::int64_t>(in.tellg());
  auto start = std::max<std::int64_t>(0, size - (1 << 20));
  in.seekg(start);
  std::string line;
  std::uint64_t seq = 0;
  std::string mac;
  if (start > 0) std::getline(in, line);  // a partial line
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("seq") && j["seq"].is_number_unsigned() && j.contains("hash") &&
        j["hash"].is_string()) {
      seq = j["seq"].get<std::uint64_t>();
      mac = j["hash"].get<std::string>();
    }
  }
  if (seq == 0) return true;
  auto head = db.audit_head(t).first;
  if (head < seq) {
    problem = "the store's head is record " + std::to_string(head) + " but the sink '" + sink_file +
              "' holds record " + std::to_string(seq) + " (records removed from the end)";
    return false;
  }
  std::string stored;
  db.audit_after(t, seq - 1, [&](std::uint64_t s, const std::string&, const std::string& hash, const std::string&) {
    if (s == seq) stored = domain::hex(hash);
    return false;
  });
  if (stored != mac) {
    problem = "record " + std::to_string(seq) + " differs from its copy in the sink '" + sink_file + "'";
    return false;
  }
  return true;
}

int audit_verify(const CommonOptions& o, const std::string& anchor, bool unkeyed) {
  return with_read(o, [&](const config::Config& cfg, store::Store& db, const store::Txn& t) {
    std::string why;
    auto path = audit_key_path(cfg, why);
    if (path.empty()) {
      std::cerr << "gatehouse: " << why << "\n";
      return 2;
    }
    AuditKey key;
    bool have_key = read_audit_key(path, key, why);
    bool keyed = db.meta(t, "audit_keyed_from").has_value();
    if (!have_key && keyed) {
      std::cerr << "gatehouse: " << why << "\naudit verify needs the audit MAC key of this store "
                << "(audit.key_file, GATEHOUSE_AUDIT_KEY_FILE)\n";
      return 2;
    }
    if (have_key && !audit_key_matches(db, t, key, why)) {
      std::cerr << "gatehouse: " << why << " ('" << path << "')\n";
      return 2;
    }
    auto head = db.audit_head(t).first;
    // Without the key an unkeyed chain proves nothing: whoever can write the
    // store can delete meta "audit_keyed_from" and recompute every link.
    // Only an explicit --unkeyed (a store from before the key) accepts that.
    if (!have_key && head > 0 && !unkeyed) {
      std::cerr << "gatehouse: " << why << "\naudit verify needs the audit MAC key "
                << "(audit.key_file, GATEHOUSE_AUDIT_KEY_FILE): without it anyone who can write the store "
                << "can rewrite the chain. For a store from before the key, --unkeyed checks the unkeyed "
                << "links only\n";
      return 2;
    }
    // The key file says the chain is keyed from record keyed_from on: a
    // store that claims to be unkeyed past it lost its meta (tampering).
    if (have_key && !keyed && head >= key.keyed_from) {
      std::cout << "audit log BROKEN: the key file '" << path << "' keys the chain from record "
                << key.keyed_from << " but the store has " << head
                << " records and claims to be unkeyed (meta audit_keyed_from removed)\n";
      return 1;
    }
    std::uint64_t count = 0;
    std::string problem;
    bool ok = check_audit_chain(db, t, have_key ? &key : nullptr, 1, count, problem);
    if (ok && !anchor.empty()) ok = check_audit_anchor(db, t, anchor, problem);
    if (!ok) {
      std::cout << "audit log BROKEN: " << problem << "\n";
      return 1;
    }
    std::cout << "audit log OK: " << count << " records, chain intact";
    if (!have_key && head > 0)
      std::cout << " (UNKEYED, --unkeyed: only the unkeyed links were checked, which anyone who can write "
                   "the store can recompute; the first start of the server keys the chain)";
    else if (key.keyed_from > 1) std::cout << " (records before " << key.keyed_from << " are unkeyed, from before the key)";
    if (!anchor.empty()) std::cout << ", not behind the anchor in " << anchor;
    std::cout << "\n";
    return 0;
  });
}

int audit_export(const CommonOptions& o, std::uint64_t after) {
  return with_read(o, [after](const config::Config&, store::Store& db, const store::Txn& t) {
    db.audit_after(
        t, after,
        [](std::uint64_t seq, const std::string&, const std::string& hash, const std::string& canonical) {
          auto j = nlohmann::json::parse(canonical, nullptr, false);
          j["seq"] = seq;
          j["hash"] = domain::hex(hash);
          std::cout << j.dump() << "\n";
          return true;
        });
    return 0;
  });
}

}  // namespace gh::app
