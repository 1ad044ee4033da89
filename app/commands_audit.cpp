// gatehouse audit verify | export: read the MAC-chained audit log offline.
#include <fstream>
#include <iostream>

#include "domain/audit.hpp"
#include "domain/base64url.hpp"
#include "app/commands.hpp"
#include "telemetry/log.hpp"

namespace gh::app {

namespace {

// The store's audit head; a read failure is a problem of the check.
bool head_of(const store::ReadTxn& t, std::uint64_t& seq, std::string& hash, std::string& problem) {
  auto st = t.audit_head(seq, hash);
  if (!st.ok()) problem = "cannot read the store: " + st.to_string();
  return st.ok();
}

}  // namespace

bool check_audit_chain(const store::ReadTxn& t, const AuditKey* key, std::uint64_t from,
                       std::uint64_t& last, std::string& problem) {
  auto v = key ? domain::ChainVerifier(key->key, key->keyed_from) : domain::ChainVerifier();
  bool ok = true, first = true;
  auto st = t.audit_after(from > 0 ? from - 1 : 0, [&](const store::AuditRecord& r) {
    if (first && from > 1) v.start_after(r.seq - 1, r.prev);  // a tail check trusts the link into it
    first = false;
    ok = v.feed({r.seq, r.prev, r.hash, r.canonical}, problem);
    return ok;
  });
  if (!st.ok()) {
    problem = "cannot read the store: " + st.to_string();
    return false;
  }
  std::uint64_t head_seq = 0;
  std::string head_hash;
  if (!head_of(t, head_seq, head_hash, problem)) return false;
  if (ok && first && from > 1 && head_seq >= from) {
    ok = false;
    problem = "records " + std::to_string(from) + " to " + std::to_string(head_seq) + " are missing";
  }
  if (ok) ok = v.finish(head_seq, head_hash, problem);
  last = v.count();
  return ok;
}

bool check_audit_anchor(const store::ReadTxn& t, const std::string& sink_file,
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
  std::uint64_t head = 0;
  std::string head_hash;
  if (!head_of(t, head, head_hash, problem)) return false;
  if (head < seq) {
    problem = "the store's head is record " + std::to_string(head) + " but the sink '" + sink_file +
              "' holds record " + std::to_string(seq) + " (records removed from the end)";
    return false;
  }
  std::string stored;
  auto st = t.audit_after(seq - 1, [&](const store::AuditRecord& r) {
    if (r.seq == seq) stored = domain::hex(r.hash);
    return false;
  });
  if (!st.ok()) {
    problem = "cannot read the store: " + st.to_string();
    return false;
  }
  if (stored != mac) {
    problem = "record " + std::to_string(seq) + " differs from its copy in the sink '" + sink_file + "'";
    return false;
  }
  return true;
}

int audit_verify(const CommonOptions& o, const std::string& anchor, bool unkeyed) {
  return with_read(o, [&](const config::Config& cfg, const store::ReadTxn& t) {
    std::string why;
    auto path = audit_key_path(cfg, why);
    if (path.empty()) {
      std::cerr << "gatehouse: " << why << "\n";
      return 2;
    }
    AuditKey key;
    bool have_key = read_audit_key(path, key, why);
    std::string keyed_from, head_hash;
    std::uint64_t head = 0;
    auto st = t.meta("audit_keyed_from", keyed_from);
    bool keyed = st.ok();
    if (st.is_not_found()) st = store::Status::OK();
    if (st.ok()) st = t.audit_head(head, head_hash);
    if (!st.ok()) {
      std::cerr << "gatehouse: cannot read the store: " << st.to_string() << "\n";
      return 1;
    }
    if (!have_key && keyed) {
      std::cerr << "gatehouse: " << why << "\naudit verify needs the audit MAC key of this store "
                << "(audit.key_file, GATEHOUSE_AUDIT_KEY_FILE)\n";
      return 2;
    }
    if (have_key && !audit_key_matches(t, key, why)) {
      std::cerr << "gatehouse: " << why << " ('" << path << "')\n";
      return 2;
    }
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
    bool ok = check_audit_chain(t, have_key ? &key : nullptr, 1, count, problem);
    if (ok && !anchor.empty()) ok = check_audit_anchor(t, anchor, problem);
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
  return with_read(o, [after](const config::Config&, const store::ReadTxn& t) {
    auto st = t.audit_after(after, [](const store::AuditRecord& r) {
      std::cout << domain::audit_line(r.canonical, r.seq, r.hash) << "\n";
      return true;
    });
    if (st.ok()) return 0;
    std::cerr << "gatehouse: cannot read the store: " << st.to_string() << "\n";
    return 1;
  });
}

}  // namespace gh::app
