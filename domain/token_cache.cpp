#include "domain/token_cache.hpp"

#include <sodium.h>

namespace gh::domain {

std::string TokenCache::key_of(std::string_view token) {
  std::string out(16, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     reinterpret_cast<const unsigned char*>(token.data()), token.size(), nullptr, 0);
  return out;
}

}  // namespace gh::domain
