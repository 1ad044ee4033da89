// The on-disk encoding of the entities (domain/entities.hpp) in LMDB.
//
// STABLE ON-DISK FORMAT: every value is one version byte followed by a CBOR
// map. A change that older code could misread bumps the version byte and
// comes with a migration (store/store.hpp, gatehouse migrate). Decoding never
// trusts the bytes: anything malformed decodes to false, never a crash.
#pragma once

#include "domain/entities.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gh::store {

using domain::ApiKey;
using domain::Avatar;
using domain::OneTimeToken;
using domain::RefreshRef;
using domain::Session;
using domain::SigningKey;
using domain::User;


std::string encode(const User& r);
std::string encode(const Session& r);
std::string encode(const RefreshRef& r);
std::string encode(const SigningKey& r);
std::string encode(const ApiKey& r);
std::string encode(const Avatar& r);
std::string encode(const OneTimeToken& r);

/// Each returns false (leaving `out` unspecified) for bytes that are not a
/// well-formed record of a known version.
bool decode(std::string_view bytes, User& out);
bool decode(std::string_view bytes, Session& out);
bool decode(std::string_view bytes, RefreshRef& out);
bool decode(std::string_view bytes, SigningKey& out);
bool decode(std::string_view bytes, ApiKey& out);
bool decode(std::string_view bytes, Avatar& out);
bool decode(std::string_view bytes, OneTimeToken& out);

}  // namespace gh::store
