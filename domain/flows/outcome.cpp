#include "domain/flows/outcome.hpp"

#include "telemetry/log.hpp"

namespace gh::flows {

Failure store_failure(const store::Status& st, const char* missing) {
  if (st.is_conflict()) return {Errc::conflict, "an account with this email or username already exists"};
  if (st.is_not_found()) return {Errc::not_found, missing};
  telemetry::log_error("store failed", {{"error", st.to_string()}});
  return {Errc::unavailable, "the store is unavailable; retry later"};
}

}  // namespace gh::flows
