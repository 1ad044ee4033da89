// The one error enum of the flows and actors. Every failure a flow or an
// actor reports to a caller is one of these plus a client-safe description; the HTTP layer maps
// each to its status and OAuth2 error code (http/response.cpp). Nothing here
// ever carries a store message, a hash or a token.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace gh {

enum class Errc : std::uint8_t {
  invalid_request = 1,  ///< 400: the request is malformed or breaks a rule
  invalid_credentials,  ///< 401: login failed (unknown email, wrong password, inactive: one answer)
  invalid_grant,        ///< 400: OAuth2 grant refused (refresh token unknown/reused/expired)
  invalid_token,        ///< 401: bearer token missing, invalid, or its session ended
  forbidden,            ///< 403: authenticated, not allowed
  not_found,            ///< 404
  conflict,             ///< 409: e.g. the email is already registered
  invalid_password,     ///< 422: the new password breaks the policy
  overloaded,           ///< 503 + Retry-After: the hashing queue is full
  unavailable,          ///< 503: the store could not commit; nothing was acknowledged
  internal,             ///< 500: a bug; logged, never detailed to the client
};

/// The OAuth2-style code sent as "error" in responses.
const char* error_code(Errc e);

struct Failure {
  Errc code = Errc::internal;
  std::string description;
};

/// A value or a Failure; what every asynchronous service call delivers.
template <class T>
class Expected {
 public:
  Expected(T v) : v_(std::move(v)) {}
  Expected(Failure f) : v_(std::move(f)) {}
  bool ok() const { return v_.index() == 0; }
  T& value() { return std::get<0>(v_); }
  const Failure& failure() const { return std::get<1>(v_); }

 private:
  std::variant<T, Failure> v_;
};

}  // namespace gh
