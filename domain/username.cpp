#include "domain/username.hpp"

#include <algorithm>

namespace gh::domain {
namespace {

// ASCII only: std::isalnum would follow the locale.
bool alnum(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'); }

}  // namespace

bool valid_username(std::string_view u) {
  if (u.size() < 3 || u.size() > 32 || !alnum(u[0])) return false;
  return std::all_of(u.begin(), u.end(), [](char ch) { return alnum(ch) || ch == '_' || ch == '.' || ch == '-'; });
}

}  // namespace gh::domain
