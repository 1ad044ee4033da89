// Catch2 checks on a store::Status, printing the status when they fail.
// Shared by the contract suite and the store's unit tests.
#pragma once

#include "store/status.hpp"

#include <catch2/catch.hpp>

#define REQUIRE_OK(expr)   \
  do {                     \
    auto st_ = (expr);     \
    INFO(st_.to_string()); \
    REQUIRE(st_.ok());     \
  } while (0)

#define CHECK_CODE(expr, code_)   \
  do {                            \
    auto st_ = (expr);            \
    INFO(st_.to_string());        \
    CHECK(st_.code() == (code_)); \
  } while (0)
