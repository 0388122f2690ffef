// Strong types for identities and positions (STYLE.md §4).
//
// A StrongId wraps an integer so that a node id can never be passed where a
// volume number is expected, nor a sector where a byte offset is.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace tandem {

template <class Tag, class T>
class StrongId {
 public:
  using ValueType = T;
  constexpr StrongId() = default;
  constexpr explicit StrongId(T v) : v_(v) {}
  constexpr T value() const { return v_; }
  constexpr auto operator<=>(const StrongId&) const = default;

 private:
  T v_{};
};

using NodeId = StrongId<struct NodeIdTag, uint8_t>;       // 0..31 inside a resource
using VolumeNr = StrongId<struct VolumeNrTag, uint16_t>;  // 0..65534
using Epoch = StrongId<struct EpochTag, uint32_t>;        // transfer-log epoch number
using GenUuid = StrongId<struct GenUuidTag, uint64_t>;    // data generation identifier

inline constexpr int kMaxNodes = 32;
inline constexpr uint32_t kSectorSize = 512;
inline constexpr uint32_t kBlockSize = 4096;  // one bitmap bit

// Sector: a 512-byte position on a volume. Convert explicitly.
class Sector {
 public:
  constexpr Sector() = default;
  constexpr explicit Sector(uint64_t s) : s_(s) {}
  static constexpr Sector FromBytes(uint64_t bytes) { return Sector(bytes / kSectorSize); }
  constexpr uint64_t value() const { return s_; }
  constexpr uint64_t bytes() const { return s_ * kSectorSize; }
  constexpr auto operator<=>(const Sector&) const = default;

 private:
  uint64_t s_ = 0;
};

}  // namespace tandem

template <class Tag, class T>
struct std::hash<tandem::StrongId<Tag, T>> {
  size_t operator()(const tandem::StrongId<Tag, T>& id) const noexcept {
    return std::hash<T>()(id.value());
  }
};
