// Fuzzes gh::domain::DeviceTokens::verify, run on the device cookie of every
// login attempt. Input: "<email>\n<token>" (no newline: the whole input is
// the token, the email fixed).
//
// Properties: a fuzzed token never verifies (the harness cannot forge the
// HMAC); a token issued for the email verifies to its nonce, and not for
// another email, nor at another device epoch (after a password change or
// reset), nor once expired, nor with any one byte changed (the byte and its
// new value taken from the input).
#include "domain/device.hpp"
#include "fuzz_check.hpp"

#include <sodium.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const gh::domain::DeviceTokens tokens(std::string(32, '\x42'));
  static const int init = sodium_init();
  (void)init;
  const std::int64_t now = 1'700'000'000;
  const std::int64_t epoch = size ? data[size - 1] : 0;  // any account's
  auto text = as_text(data, size);
  auto nl = text.find('\n');
  std::string_view email = nl == std::string_view::npos ? "alice@example.com" : text.substr(0, nl);
  auto token = nl == std::string_view::npos ? text : text.substr(nl + 1);

  FUZZ_CHECK(!tokens.verify(token, email, epoch, now));

  auto issued = tokens.issue(email, epoch, now, 3600);
  auto id = tokens.verify(issued, email, epoch, now);
  FUZZ_CHECK(id && id->size() == 22 && issued.compare(0, 22, *id) == 0);
  FUZZ_CHECK(!tokens.verify(issued, std::string(email) + "x", epoch, now));
  FUZZ_CHECK(!tokens.verify(issued, email, epoch + 1, now));
  FUZZ_CHECK(!tokens.verify(issued, email, epoch, now + 3600));
  if (size >= 2) {
    std::string changed = issued;
    std::size_t at = data[0] % changed.size();
    char to = static_cast<char>(data[1]);
    if (changed[at] != to) {
      changed[at] = to;
      FUZZ_CHECK(!tokens.verify(changed, email, epoch, now));
    }
  }
  return 0;
}
