// Inside the engines (not for code above store/): the counters behind
// Backend::change_stamp. A key (a user or session id) hashes to one of
// kSlots counters; a change to the key grows its slot, and a change the
// engine cannot place (another process, a lost connection) grows the epoch,
// which is part of every stamp. Each term only grows, so a stamp — the sum
// of the epoch and two slots — changes whenever one of its terms does.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gh::store {

class ChangeStamps {
 public:
  static constexpr std::size_t kSlots = 4096;

  static std::uint32_t slot_of(std::string_view key) {
    std::uint32_t h = 2166136261u;  // FNV-1a
    for (char c : key) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
    return h % kSlots;
  }

  void grow(std::uint32_t slot) { slots_[slot].fetch_add(1); }
  void grow(std::string_view key) { grow(slot_of(key)); }
  /// Every stamp changes: what was cached before is never used again.
  void grow_all() { epoch_.fetch_add(1); }

  std::uint64_t stamp(std::string_view a, std::string_view b) const {
    return epoch_.load() + slots_[slot_of(a)].load() + slots_[slot_of(b)].load();
  }

 private:
  std::atomic<std::uint64_t> slots_[kSlots] = {};
  std::atomic<std::uint64_t> epoch_{1};
};

}  // namespace gh::store
