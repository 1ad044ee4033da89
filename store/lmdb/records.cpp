#include "store/lmdb/records.hpp"

#include <sodium.h>

#include <algorithm>
#include <limits>
#include <type_traits>
#include <variant>

namespace gh::store {
namespace {

using nlohmann::json;
constexpr char kVersion = 1;

std::string pack(const json& j) {
  std::string out(1, kVersion);
  json::to_cbor(j, out);
  return out;
}

// Decoding reads the CBOR map straight into the record's fields: no JSON
// tree is built (a tree cost ~50k instructions per user record, and a user and
// a session are read on every token check). Each record lists its fields; a
// missing required field, a value of the wrong type, malformed or trailing
// bytes decode to false. Unknown keys are skipped (a newer writer may add
// some). Nested JSON values (User::data) go through nlohmann's CBOR reader.
using Target = std::variant<std::string*, std::int64_t*, std::uint64_t*, int*, bool*, json*,
                            std::vector<std::string>*>;

struct Field {
  std::string_view key;
  Target target;
  bool required = true;
  bool binary = false;  ///< a byte string (std::string target)
  bool seen = false;
};

// The CBOR subset nlohmann's to_cbor writes: definite lengths, no tags.
class CborReader {
 public:
  CborReader(const char* begin, const char* end)
      : p_(reinterpret_cast<const std::uint8_t*>(begin)), end_(reinterpret_cast<const std::uint8_t*>(end)) {}

  bool at_end() const { return p_ == end_; }
  const char* pos() const { return reinterpret_cast<const char*>(p_); }

  /// Reads an item head: its major type and argument (a value or a length).
  bool head(int& major, std::uint64_t& arg) {
    if (p_ == end_) return false;
    major = *p_ >> 5;
    int info = *p_++ & 31;
    if (info < 24) return arg = static_cast<std::uint64_t>(info), true;
    if (info > 27) return false;  // indefinite lengths and reserved values
    std::size_t n = std::size_t{1} << (info - 24);
    if (static_cast<std::size_t>(end_ - p_) < n) return false;
    arg = 0;
    for (std::size_t i = 0; i < n; ++i) arg = arg << 8 | *p_++;
    return true;
  }
  /// The next `n` bytes of a string, checked against what is left.
  bool bytes(std::uint64_t n, std::string_view& out) {
    if (n > static_cast<std::uint64_t>(end_ - p_)) return false;
    out = std::string_view(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(n));
    p_ += n;
    return true;
  }
  /// Skips one whole item (at most 64 levels deep).
  bool skip(int depth = 0) {
    int major = 0;
    std::uint64_t arg = 0;
    std::string_view ignored;
    if (depth > 64 || !head(major, arg)) return false;
    switch (major) {
      case 0: case 1: return true;
      case 2: case 3: return bytes(arg, ignored);
      case 4: case 5: {
        if (arg > static_cast<std::uint64_t>(end_ - p_)) return false;  // each item takes a byte at least
        for (std::uint64_t i = 0; i < (major == 5 ? 2 * arg : arg); ++i)
          if (!skip(depth + 1)) return false;
        return true;
      }
      case 7: return true;  // simple values and floats: the head is the whole item
      default: return false;  // tags
    }
  }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

bool read_value(CborReader& in, Field& f) {
  int major = 0;
  std::uint64_t arg = 0;
  std::string_view text;
  if (auto* json_target = std::get_if<json*>(&f.target)) {
    const char* start = in.pos();
    if (!in.skip()) return false;
    auto j = json::from_cbor(start, in.pos(), true, false);
    if (!j.is_object()) return false;
    **json_target = std::move(j);
    return true;
  }
  if (!in.head(major, arg)) return false;
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  return std::visit(
      [&](auto* target) {
        using T = std::remove_pointer_t<decltype(target)>;
        if constexpr (std::is_same_v<T, std::string>) {
          if (major != (f.binary ? 2 : 3) || !in.bytes(arg, text)) return false;
          target->assign(text);
          return true;
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          if (major != 4) return false;
          target->clear();
          for (std::uint64_t i = 0, n = arg; i < n; ++i) {
            if (!in.head(major, arg) || major != 3 || !in.bytes(arg, text)) return false;
            target->emplace_back(text);
          }
          return true;
        } else if constexpr (std::is_same_v<T, bool>) {
          if (major != 7 || (arg != 20 && arg != 21)) return false;
          *target = arg == 21;
          return true;
        } else if constexpr (std::is_same_v<T, std::uint64_t>) {
          if (major != 0) return false;
          *target = arg;
          return true;
        } else if constexpr (std::is_integral_v<T>) {  // int64_t, int
          if ((major != 0 && major != 1) || arg > kMax) return false;
          auto v = major == 0 ? static_cast<std::int64_t>(arg) : -1 - static_cast<std::int64_t>(arg);
          if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) return false;
          *target = static_cast<T>(v);
          return true;
        } else {
          return false;
        }
      },
      f.target);
}

// Parses the version byte and CBOR map into `fields`.
bool unpack(std::string_view bytes, std::vector<Field> fields) {
  if (bytes.size() < 2 || bytes[0] != kVersion) return false;
  CborReader in(bytes.data() + 1, bytes.data() + bytes.size());
  int major = 0;
  std::uint64_t pairs = 0;
  if (!in.head(major, pairs) || major != 5) return false;
  try {
    for (std::uint64_t i = 0; i < pairs; ++i) {
      std::uint64_t len = 0;
      std::string_view key;
      if (!in.head(major, len) || major != 3 || !in.bytes(len, key)) return false;
      auto f = std::find_if(fields.begin(), fields.end(), [&](const Field& x) { return x.key == key; });
      if (f == fields.end() ? !in.skip() : !read_value(in, *f)) return false;
      if (f != fields.end()) f->seen = true;
    }
  } catch (const json::exception&) {  // from_cbor throws on some bytes even when told not to
    return false;
  }
  return in.at_end() &&
         std::all_of(fields.begin(), fields.end(), [](const Field& f) { return f.seen || !f.required; });
}

json bin(const std::string& s) { return json::binary(std::vector<std::uint8_t>(s.begin(), s.end())); }

}  // namespace

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
               {"lf", r.last_failed_at},
               {"de", r.device_epoch}});
}

bool decode(std::string_view bytes, User& r) {
  r = User{};
  return unpack(bytes, {{"id", &r.id},
                        {"em", &r.email},
                        {"pw", &r.password_hash},
                        {"ro", &r.role},
                        {"un", &r.username},
                        {"fn", &r.full_name},
                        {"av", &r.avatar_url, false},
                        {"ob", &r.onboarding, false},
                        {"da", &r.data},
                        {"ev", &r.email_verified},
                        {"ac", &r.active},
                        {"ca", &r.created_at},
                        {"ua", &r.updated_at},
                        {"fl", &r.failed_logins, false},
                        {"lf", &r.last_failed_at, false},
                        {"de", &r.device_epoch, false}});
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
  r = Session{};
  return unpack(bytes, {{"id", &r.id},
                        {"u", &r.user_id},
                        {"g", &r.generation},
                        {"h", &r.token_hash, true, true},
                        {"ra", &r.rotated_at},
                        {"ca", &r.created_at},
                        {"lu", &r.last_used_at},
                        {"ex", &r.expires_at},
                        {"rv", &r.revoked},
                        {"rr", &r.revoke_reason},
                        {"ip", &r.ip},
                        {"ag", &r.user_agent}});
}

std::string encode(const RefreshRef& r) {
  return pack({{"s", r.session_id}, {"g", r.generation}, {"ex", r.expires_at}});
}

bool decode(std::string_view bytes, RefreshRef& r) {
  r = RefreshRef{};
  return unpack(bytes, {{"s", &r.session_id}, {"g", &r.generation}, {"ex", &r.expires_at}});
}

std::string encode(const SigningKey& r) {
  return pack({{"kid", r.kid}, {"seed", bin(r.seed)}, {"ca", r.created_at}});
}

bool decode(std::string_view bytes, SigningKey& r) {
  r = SigningKey{};
  return unpack(bytes, {{"kid", &r.kid}, {"seed", &r.seed, true, true}, {"ca", &r.created_at}}) &&
         r.seed.size() == 32;
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
  r = ApiKey{};
  return unpack(bytes, {{"id", &r.id},
                        {"u", &r.user_id},
                        {"n", &r.name},
                        {"sc", &r.scopes},
                        {"ip", &r.allowed_ips},
                        {"ca", &r.created_at},
                        {"ex", &r.expires_at},
                        {"rv", &r.revoked}});
}

std::string encode(const Avatar& r) {
  return pack({{"ct", r.content_type}, {"b", bin(r.bytes)}, {"ua", r.updated_at}});
}

bool decode(std::string_view bytes, Avatar& r) {
  r = Avatar{};
  return unpack(bytes, {{"ct", &r.content_type}, {"b", &r.bytes, true, true}, {"ua", &r.updated_at}});
}

std::string encode(const OneTimeToken& r) {
  json j{{"p", r.purpose}, {"u", r.user_id}, {"ex", r.expires_at}, {"us", r.used}};
  if (!r.redirect_to.empty()) j["r"] = r.redirect_to;
  if (!r.code_challenge.empty()) j["cc"] = r.code_challenge;
  return pack(j);
}

bool decode(std::string_view bytes, OneTimeToken& r) {
  r = OneTimeToken{};
  return unpack(bytes, {{"p", &r.purpose}, {"u", &r.user_id}, {"ex", &r.expires_at}, {"us", &r.used},
                        {"r", &r.redirect_to, false}, {"cc", &r.code_challenge, false}});
}

}  // namespace gh::store
