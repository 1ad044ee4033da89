// The outcome of a store operation, after LevelDB's Status: ok, or what went
// wrong, with a message for logs (never for clients).
//
// The one error convention through the store and the flows above it:
//   not_found    the record is not there (a normal answer, not a failure)
//   conflict     a unique value (email, username, credential id) is taken
//   unavailable  the engine could not answer (I/O error, map full, lost
//                connection): the request answers 503 and may be retried
//   corrupt      the bytes are there but do not decode: also 503, and logged
// A failed read is never reported as not_found.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace gh::store {

class Status {
 public:
  enum class Code : std::uint8_t { ok, not_found, conflict, unavailable, corrupt };

  Status() = default;
  static Status OK() { return {}; }
  static Status NotFound(std::string msg = {}) { return {Code::not_found, std::move(msg)}; }
  static Status Conflict(std::string msg = {}) { return {Code::conflict, std::move(msg)}; }
  static Status Unavailable(std::string msg = {}) { return {Code::unavailable, std::move(msg)}; }
  static Status Corrupt(std::string msg = {}) { return {Code::corrupt, std::move(msg)}; }

  bool ok() const { return code_ == Code::ok; }
  bool is_not_found() const { return code_ == Code::not_found; }
  bool is_conflict() const { return code_ == Code::conflict; }
  bool is_unavailable() const { return code_ == Code::unavailable; }
  bool is_corrupt() const { return code_ == Code::corrupt; }
  /// The engine failed (unavailable or corrupt): neither an answer nor a refusal.
  bool failed() const { return code_ == Code::unavailable || code_ == Code::corrupt; }

  Code code() const { return code_; }
  const std::string& message() const { return msg_; }
  /// "not_found: …", for logs.
  std::string to_string() const;

 private:
  Status(Code c, std::string m) : code_(c), msg_(std::move(m)) {}
  Code code_ = Code::ok;
  std::string msg_;
};

inline std::string Status::to_string() const {
  static const char* const names[] = {"ok", "not_found", "conflict", "unavailable", "corrupt"};
  std::string out = names[static_cast<int>(code_)];
  if (!msg_.empty()) out += ": " + msg_;
  return out;
}

}  // namespace gh::store
