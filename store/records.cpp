#include "store/records.hpp"

#include <sodium.h>

namespace gh::store {
namespace {

using nlohmann::json;
constexpr char kVersion = 1;

std::string pack(const json& j) {
  std::string out(1, kVersion);
  json::to_cbor(j, out);
  return out;
}

// Parses the version byte and CBOR map; `fill` copies typed fields out and may
// throw json::exception on a wrong type, which is caught here.
template <class F>
bool unpack(std::string_view bytes, F&& fill) {
  if (bytes.size() < 2 || bytes[0] != kVersion) return false;
  json j = json::from_cbor(bytes.begin() + 1, bytes.end(), true, false);
  if (!j.is_object()) return false;
  try {
    fill(j);
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

json bin(const std::string& s) { return json::binary(std::vector<std::uint8_t>(s.begin(), s.end())); }
std::string unbin(const json& j) {
  const auto& b = j.get_binary();
  return std::string(b.begin(), b.end());
}

}  // namespace

std::string audit_chain_hash(const std::string& prev, const std::string& canonical) {
  std::string in = prev + canonical, out(32, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     reinterpret_cast<const unsigned char*>(in.data()), in.size(), nullptr, 0);
  return out;
}

std::string encode(const User& r) {
  return pack({{"id", r.id},
               {"em", r.email},
               {"pw", r.password_hash},
               {"ro", r.role},
               {"un", r.username},
               {"fn", r.full_name},
               {"av", r.avatar_url},
               {"ob", r.onboarding},
               {"da", r.data},
               {"ev", r.email_verified},
               {"ac", r.active},
               {"ca", r.created_at},
               {"ua", r.updated_at},
               {"fl", r.failed_logins},
               {"lf", r.last_failed_at}});
}

bool decode(std::string_view bytes, User& r) {
  return unpack(bytes, [&](const json& j) {
    r.id = j.at("id").get<std::string>();
    r.email = j.at("em").get<std::string>();
    r.password_hash = j.at("pw").get<std::string>();
    r.role = j.at("ro").get<std::string>();
    r.username = j.at("un").get<std::string>();
    r.full_name = j.at("fn").get<std::string>();
    r.avatar_url = j.value("av", std::string());
    r.onboarding = j.value("ob", std::string("new"));
    r.data = j.at("da");
    r.email_verified = j.at("ev").get<bool>();
    r.active = j.at("ac").get<bool>();
    r.created_at = j.at("ca").get<std::int64_t>();
    r.updated_at = j.at("ua").get<std::int64_t>();
    r.failed_logins = j.value("fl", 0);
    r.last_failed_at = j.value("lf", std::int64_t{0});
    if (!r.data.is_object()) throw json::type_error::create(302, "data", nullptr);
  });
}

std::string encode(const Session& r) {
  return pack({{"id", r.id},
               {"u", r.user_id},
               {"g", r.generation},
               {"h", bin(r.token_hash)},
               {"ra", r.rotated_at},
               {"ca", r.created_at},
               {"lu", r.last_used_at},
               {"ex", r.expires_at},
               {"rv", r.revoked},
               {"rr", r.revoke_reason},
               {"ip", r.ip},
               {"ag", r.user_agent}});
}

bool decode(std::string_view bytes, Session& r) {
  return unpack(bytes, [&](const json& j) {
    r.id = j.at("id").get<std::string>();
    r.user_id = j.at("u").get<std::string>();
    r.generation = j.at("g").get<std::uint64_t>();
    r.token_hash = unbin(j.at("h"));
    r.rotated_at = j.at("ra").get<std::int64_t>();
    r.created_at = j.at("ca").get<std::int64_t>();
    r.last_used_at = j.at("lu").get<std::int64_t>();
    r.expires_at = j.at("ex").get<std::int64_t>();
    r.revoked = j.at("rv").get<bool>();
    r.revoke_reason = j.at("rr").get<std::string>();
    r.ip = j.at("ip").get<std::string>();
    r.user_agent = j.at("ag").get<std::string>();
  });
}

std::string encode(const RefreshRef& r) {
  return pack({{"s", r.session_id}, {"g", r.generation}, {"ex", r.expires_at}});
}

bool decode(std::string_view bytes, RefreshRef& r) {
  return unpack(bytes, [&](const json& j) {
    r.session_id = j.at("s").get<std::string>();
    r.generation = j.at("g").get<std::uint64_t>();
    r.expires_at = j.at("ex").get<std::int64_t>();
  });
}

std::string encode(const SigningKey& r) {
  return pack({{"kid", r.kid}, {"seed", bin(r.seed)}, {"ca", r.created_at}});
}

bool decode(std::string_view bytes, SigningKey& r) {
  return unpack(bytes, [&](const json& j) {
    r.kid = j.at("kid").get<std::string>();
    r.seed = unbin(j.at("seed"));
    r.created_at = j.at("ca").get<std::int64_t>();
    if (r.seed.size() != 32) throw json::type_error::create(302, "seed", nullptr);
  });
}

std::string encode(const ApiKey& r) {
  return pack({{"id", r.id},
               {"u", r.user_id},
               {"n", r.name},
               {"sc", r.scopes},
               {"ip", r.allowed_ips},
               {"ca", r.created_at},
               {"ex", r.expires_at},
               {"rv", r.revoked}});
}

bool decode(std::string_view bytes, ApiKey& r) {
  return unpack(bytes, [&](const json& j) {
    r.id = j.at("id").get<std::string>();
    r.user_id = j.at("u").get<std::string>();
    r.name = j.at("n").get<std::string>();
    r.scopes = j.at("sc").get<std::vector<std::string>>();
    r.allowed_ips = j.at("ip").get<std::vector<std::string>>();
    r.created_at = j.at("ca").get<std::int64_t>();
    r.expires_at = j.at("ex").get<std::int64_t>();
    r.revoked = j.at("rv").get<bool>();
  });
}

std::string encode(const Avatar& r) {
  return pack({{"ct", r.content_type}, {"b", bin(r.bytes)}, {"ua", r.updated_at}});
}

bool decode(std::string_view bytes, Avatar& r) {
  return unpack(bytes, [&](const json& j) {
    r.content_type = j.at("ct").get<std::string>();
    r.bytes = unbin(j.at("b"));
    r.updated_at = j.at("ua").get<std::int64_t>();
  });
}

std::string encode(const OneTimeToken& r) {
  return pack({{"p", r.purpose}, {"u", r.user_id}, {"ex", r.expires_at}, {"us", r.used}});
}

bool decode(std::string_view bytes, OneTimeToken& r) {
  return unpack(bytes, [&](const json& j) {
    r.purpose = j.at("p").get<std::string>();
    r.user_id = j.at("u").get<std::string>();
    r.expires_at = j.at("ex").get<std::int64_t>();
    r.used = j.at("us").get<bool>();
  });
}

}  // namespace gh::store
