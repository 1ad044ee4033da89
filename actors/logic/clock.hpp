// Wall-clock time in unix seconds: the one place time is read, so pure logic
// takes `now` as a parameter and only the callers at the edges call this.
#pragma once

#include <chrono>
#include <cstdint>

namespace gh {

inline std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace gh
