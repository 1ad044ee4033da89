#include "domain/keyring.hpp"

#include "domain/base64url.hpp"

#include <sodium.h>

namespace gh::domain {
namespace {

PublicKey public_of(const domain::SigningKey& k, std::string* sk_out) {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, reinterpret_cast<const unsigned char*>(k.seed.data()));
  if (sk_out) sk_out->assign(reinterpret_cast<char*>(sk), sizeof sk);
  sodium_memzero(sk, sizeof sk);
  return {k.kid, std::string(reinterpret_cast<char*>(pk), sizeof pk)};
}

}  // namespace

KeyRing::KeyRing(const domain::SigningKey& current, const domain::SigningKey* previous)
    : KeyRing(current, previous ? std::vector<domain::SigningKey>{*previous} : std::vector<domain::SigningKey>{}) {}

KeyRing::KeyRing(const domain::SigningKey& current, const std::vector<domain::SigningKey>& retired) {
  kid_ = current.kid;
  verify_.push_back(public_of(current, &sk_));
  for (auto& k : retired)
    if (!k.kid.empty() && !find(k.kid)) verify_.push_back(public_of(k, nullptr));
}

std::string KeyRing::sign(std::string_view msg) const {
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(),
                       reinterpret_cast<const unsigned char*>(sk_.data()));
  return std::string(reinterpret_cast<char*>(sig), sizeof sig);
}

const PublicKey* KeyRing::find(std::string_view kid) const {
  for (auto& k : verify_)
    if (k.kid == kid) return &k;
  return nullptr;
}

nlohmann::json KeyRing::jwks() const {
  auto keys = nlohmann::json::array();
  for (auto& k : verify_)
    keys.push_back({{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", b64url_encode(k.pk)},
                    {"kid", k.kid}, {"use", "sig"}, {"alg", "EdDSA"}});
  return {{"keys", keys}};
}

domain::SigningKey KeyRing::generate(std::int64_t now) {
  return {b64url_encode(random_bytes(12)), random_bytes(32), now};
}

}  // namespace gh::domain
