// gatehouse audit verify | export: read the hash-chained audit log offline.
#include <iostream>

#include "actors/logic/audit.hpp"
#include "actors/logic/base64url.hpp"
#include "app/commands.hpp"
#include "telemetry/log.hpp"

namespace gh::app {

int audit_verify(const CommonOptions& o) {
  return with_read(o, [](store::Store& db, const store::Txn& t) {
    logic::ChainVerifier v;
    std::string problem;
    bool ok = true;
    db.audit_after(t, 0,
                   [&](std::uint64_t seq, const std::string& prev, const std::string& hash,
                       const std::string& canonical) {
                     ok = v.feed({seq, prev, hash, canonical}, problem);
                     return ok;
                   });
    auto [head_seq, head_hash] = db.audit_head(t);
    if (ok) ok = v.finish(head_seq, head_hash, problem);
    if (!ok) {
      std::cout << "audit log BROKEN: " << problem << "\n";
      return 1;
    }
    std::cout << "audit log OK: " << v.count() << " records, chain intact\n";
    return 0;
  });
}

int audit_export(const CommonOptions& o, std::uint64_t after) {
  return with_read(o, [after](store::Store& db, const store::Txn& t) {
    db.audit_after(
        t, after,
        [](std::uint64_t seq, const std::string&, const std::string& hash, const std::string& canonical) {
          auto j = nlohmann::json::parse(canonical, nullptr, false);
          j["seq"] = seq;
          j["hash"] = logic::hex(hash);
          std::cout << j.dump() << "\n";
          return true;
        });
    return 0;
  });
}

}  // namespace gh::app
