// Fuzzes gh::logic::normalize_email, applied to every email that enters
// (register, login, links, admin API).
//
// Properties: the normal form is at most 254 octets, has an '@', no ASCII
// capital and no control or space character, and is a fixed point
// (normalising it again gives it back unchanged).
#include "actors/logic/email.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string why;
  auto email = gh::logic::normalize_email(as_text(data, size), why);
  if (!email) {
    FUZZ_CHECK(!why.empty());
    return 0;
  }
  FUZZ_CHECK(!email->empty() && email->size() <= 254);
  FUZZ_CHECK(email->find('@') != std::string::npos);
  for (unsigned char c : *email) FUZZ_CHECK(!(c >= 'A' && c <= 'Z') && c > 0x20 && c != 0x7f);
  auto again = gh::logic::normalize_email(*email, why);
  FUZZ_CHECK(again && *again == *email);
  return 0;
}
