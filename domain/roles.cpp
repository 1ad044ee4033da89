#include "domain/roles.hpp"

#include <toml++/toml.h>

namespace gh::domain {
namespace {

std::set<std::string> strings(const toml::node* n, const std::string& where) {
  std::set<std::string> out;
  if (!n) return out;
  auto* arr = n->as_array();
  if (!arr) throw std::runtime_error(where + " must be an array of strings");
  for (auto& e : *arr) {
    auto v = e.value<std::string>();
    if (!v) throw std::runtime_error(where + " must be an array of strings");
    out.insert(*v);
  }
  return out;
}

bool contains(const std::set<std::string>& s, const std::string& x) {
  return s.count("*") != 0 || s.count(x) != 0;
}

}  // namespace

Roles Roles::builtin() {
  Roles r;
  r.roles_["user"] = Role{};
  r.roles_["manager"] = Role{{"users:read", "users:write"}, {"user"}, {"user"}, {"user"}};
  r.roles_["admin"] = Role{{"*"}, {"*"}, {"*"}, {"*"}};
  return r;
}

Roles Roles::load(const std::string& path) {
  Roles r = builtin();
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw std::runtime_error("cannot read roles file '" + path + "': " + std::string(e.description()));
  }
  auto* roles = doc["roles"].as_table();
  if (!roles) throw std::runtime_error("roles file '" + path + "' needs a [roles.<name>] table per role");
  for (auto& [name_key, node] : *roles) {
    std::string name(name_key.str());
    auto* t = node.as_table();
    if (!t) throw std::runtime_error("roles." + name + " must be a table");
    for (auto& [k, v] : *t) {
      std::string key(k.str());
      if (key != "permissions" && key != "create" && key != "update" && key != "deactivate")
        throw std::runtime_error("roles." + name + ": unknown key '" + key + "'");
    }
    std::string at = "roles." + name + ".";
    r.roles_[name] = Role{strings(t->get("permissions"), at + "permissions"),
                          strings(t->get("create"), at + "create"),
                          strings(t->get("update"), at + "update"),
                          strings(t->get("deactivate"), at + "deactivate")};
  }
  for (auto& [name, role] : r.roles_)
    for (auto* set : {&role.create, &role.update, &role.deactivate})
      for (auto& target : *set)
        if (target != "*" && !r.exists(target))
          throw std::runtime_error("roles." + name + " names unknown role '" + target + "'");
  return r;
}

bool Roles::has(const std::string& role, const std::string& permission) const {
  auto it = roles_.find(role);
  return it != roles_.end() && contains(it->second.permissions, permission);
}

bool Roles::may(const std::string& actor, Manage what, const std::string& target) const {
  auto it = roles_.find(actor);
  if (it == roles_.end() || !exists(target)) return false;
  const auto& r = it->second;
  switch (what) {
    case Manage::create: return contains(r.create, target);
    case Manage::update: return contains(r.update, target);
    case Manage::deactivate: return contains(r.deactivate, target);
  }
  return false;
}

}  // namespace gh::domain
