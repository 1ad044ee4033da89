// Fuzzes decoding the records Gatehouse keeps in LMDB (store/lmdb/records.hpp):
// bytes read back from disk, which may be corrupt. The first byte picks the
// record type, the rest is the stored value (version byte + CBOR map).
//
// Properties: decoding never crashes or throws (records.hpp: "anything
// malformed decodes to false"); a decoded record encodes to bytes that decode
// again and re-encode to the very same bytes (decode(encode(r)) round-trips).
#include "fuzz_check.hpp"
#include "store/lmdb/records.hpp"

namespace {

template <class Record>
void round_trip(std::string_view bytes) {
  Record r;
  if (!gh::store::decode(bytes, r)) return;
  auto encoded = gh::store::encode(r);
  Record again;
  FUZZ_CHECK(gh::store::decode(encoded, again));
  FUZZ_CHECK(gh::store::encode(again) == encoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto bytes = as_text(data + 1, size - 1);
  switch (data[0] % 7) {
    case 0: round_trip<gh::domain::User>(bytes); break;
    case 1: round_trip<gh::domain::Session>(bytes); break;
    case 2: round_trip<gh::domain::RefreshRef>(bytes); break;
    case 3: round_trip<gh::domain::SigningKey>(bytes); break;
    case 4: round_trip<gh::domain::ApiKey>(bytes); break;
    case 5: round_trip<gh::domain::Avatar>(bytes); break;
    case 6: round_trip<gh::domain::OneTimeToken>(bytes); break;
  }
  return 0;
}
