#include "domain/clock.hpp"

#include <chrono>
#include <fstream>

namespace gh {
namespace {
std::string g_offset_file;  // written once at start-up, before any thread reads it
}  // namespace

std::int64_t now_s() {
  auto real = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  if (g_offset_file.empty()) return real;
  std::int64_t offset = 0;
  std::ifstream(g_offset_file) >> offset;
  return real + offset;
}

void set_clock_offset_file_for_test(std::string path) { g_offset_file = std::move(path); }

}  // namespace gh
