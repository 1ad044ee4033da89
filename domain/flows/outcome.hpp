// What a flow step answers: nothing when it is done, or the Failure to send.
// Flows (domain/flows/) decide with the rules of domain/ and the store
// contract (store/store.hpp); they know neither the engine nor the actors,
// so they are unit-tested with any Backend and no actor system.
#pragma once

#include "domain/errors.hpp"
#include "store/status.hpp"

#include <optional>

namespace gh::flows {

using Outcome = std::optional<Failure>;

inline Outcome done() { return std::nullopt; }
inline Failure fail(Errc code, std::string why) { return Failure{code, std::move(why)}; }

/// A store Status that is not ok, as the answer: conflict -> 409, not_found
/// -> 404 with `missing`, a failure of the engine -> 503 (never 401 or 404).
Failure store_failure(const store::Status& st, const char* missing = "not found");

/// For `if (auto f = check(t.put_x(...))) return f;`: nullopt when ok.
inline Outcome check(const store::Status& st) {
  if (st.ok()) return std::nullopt;
  return store_failure(st);
}

}  // namespace gh::flows
