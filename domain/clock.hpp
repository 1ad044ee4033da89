// Wall-clock time in unix seconds: the one place time is read, so pure logic
// takes `now` as a parameter and only the callers at the edges call this.
#pragma once

#include <cstdint>
#include <string>

namespace gh {

std::int64_t now_s();

/// Test hook: from now on, now_s() adds the integer (seconds) written in
/// `path`, re-read on every call, so integration tests can move time forward
/// (token expiry) without sleeping. Set only when the environment variable
/// GATEHOUSE_FOR_TEST_CLOCK_FILE is; never in production.
void set_clock_offset_file_for_test(std::string path);

}  // namespace gh
