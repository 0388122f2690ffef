// Fuzz target for the replication protocol decoder. Any input must either be
// rejected cleanly or decode to a message whose encoding is exactly the input
// (the encoding is canonical: one message, one byte string), and that
// encoding must decode again.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/check.h"
#include "engine/protocol.h"

namespace tandem::engine {
namespace {

void CheckOne(ByteSpan input) {
  Result<Message> m = Decode(input);
  if (!m.ok()) return;
  Bytes again = Encode(*m);
  TANDEM_CHECK(again.size() == input.size());
  TANDEM_CHECK(std::equal(again.begin(), again.end(), input.begin()));
  Result<Message> m2 = Decode(again);
  TANDEM_CHECK(m2.ok());
  TANDEM_CHECK(TypeOf(*m2) == TypeOf(*m));
}

// One default-constructed message of every type.
template <size_t... I>
std::vector<Message> AllDefaults(std::index_sequence<I...>) {
  return {Message(std::in_place_index<I>)...};
}

std::vector<Message> SeedMessages() {
  Hello hello;
  hello.node_id = 1;
  hello.peer_node_id = 2;
  hello.resource = "r0";
  hello.challenge = Bytes(32, 0x5a);

  Uuids uuids;
  uuids.vnr = 1;
  uuids.current = 0x1234567890abcdef;
  uuids.bitmap_uuids = {1, 2, 3};
  uuids.history = {4, 5};
  uuids.dirty_bits = 99;
  uuids.dagtags = {0, 6, 7};

  State state;
  state.role = 1;
  state.disks = {9, 6};
  state.connected_mask = 0x6;

  Data data;
  data.id = 7;
  data.offset = 8192;
  data.length = 512;
  data.flags = kDpFua | kDpWantAck;
  data.payload = MakeShared(Bytes(512, 0xab));

  TwopcReply reply;
  reply.tid = 42;
  reply.vote = static_cast<uint8_t>(TwopcVote::kNo);
  reply.code = -9;

  BitmapMsg bitmap;
  bitmap.bits = 1000;
  bitmap.encoded = {0x80, 0x10, 0x20};

  ReadReply read;
  read.id = 3;
  read.ok = 1;
  read.payload = MakeShared(Bytes(8, 0x11));

  std::vector<Message> seeds =
      AllDefaults(std::make_index_sequence<std::variant_size_v<Message>>());
  seeds.insert(seeds.end(), {hello, AuthResponse{Bytes(32, 0xee)}, uuids, state, data, reply,
                             bitmap, read, Barrier{.epoch = 7}});
  return seeds;
}

}  // namespace
}  // namespace tandem::engine

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tandem::engine::CheckOne(tandem::ByteSpan(data, size));
  return 0;
}

// Valid frames for the standalone driver to mutate.
extern "C" size_t TandemFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  size_t n = 0;
  for (const auto& m : tandem::engine::SeedMessages()) {
    out->push_back(tandem::engine::Encode(m));
    ++n;
  }
  return n;
}
