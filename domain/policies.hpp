// Policy choices of the configuration that the rules act on, as enums: the
// config loader (config/config.cpp) validates the names once, the flows
// (domain/flows/) decide with the values.
#pragma once

namespace gh::domain {

/// auth.existing_email: what registering an email that has an account does.
/// conflict: answer 409. notify: answer like a new account and tell its owner
/// (nothing tells the two apart).
enum class ExistingEmail { conflict, notify };

}  // namespace gh::domain
