// Signing keys and the rotation secret at rest (the `keys` and `meta` tables).
// Used at start-up, before the writer actor exists, and by offline commands;
// each call runs its own write transaction.
#pragma once

#include "actors/logic/keyring.hpp"
#include "store/store.hpp"

#include <memory>
#include <string>

namespace gh {

/// The current (and previous) key; generated and stored on first start.
/// Null with `why` if the store cannot be read or written.
std::shared_ptr<const logic::KeyRing> load_keys(store::Store& db, std::string& why);

/// Makes a new current key; the old current becomes the previous one (still in
/// the JWKS). Returns the new kid, or empty with `why`.
std::string rotate_keys(store::Store& db, std::string& why);

/// The 32-byte secret that derives successor refresh tokens; created once.
std::string load_rotation_secret(store::Store& db, std::string& why);

}  // namespace gh
