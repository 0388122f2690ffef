// The wire model of the real engine protocol: message types and streams from
// engine/protocol.h, and (by default) every message encoded to its frame and
// decoded again on the way, which proves the codec on every message the
// simulator carries.
#pragma once

#include "sim/sim_network.h"

namespace tandem::sim {

class EngineWireModel : public WireModel {
 public:
  explicit EngineWireModel(bool round_trip = true) : round_trip_(round_trip) {}
  engine::MsgType TypeOf(const engine::Message& msg) const override;
  engine::StreamKind StreamOf(engine::MsgType type) const override;
  // With round_trip: Encode, Decode, and check that re-encoding the decoded
  // message gives the same bytes.
  Result<engine::Message> Transfer(engine::Message msg) const override;

 private:
  bool round_trip_;
};

}  // namespace tandem::sim
