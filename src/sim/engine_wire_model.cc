#include "sim/engine_wire_model.h"

#include <string>

namespace tandem::sim {

engine::MsgType EngineWireModel::TypeOf(const engine::Message& msg) const {
  return engine::TypeOf(msg);
}

engine::StreamKind EngineWireModel::StreamOf(engine::MsgType type) const {
  return engine::StreamFor(type);
}

Result<engine::Message> EngineWireModel::Transfer(engine::Message msg) const {
  if (!round_trip_) return msg;
  Bytes frame = engine::Encode(msg);
  Result<engine::Message> decoded = engine::Decode(frame);
  if (!decoded.ok()) {
    return MakeError(decoded.code(), std::string("decoding an encoded ") +
                                         engine::MsgTypeName(engine::TypeOf(msg)) +
                                         " failed: " + decoded.error().message);
  }
  if (engine::TypeOf(*decoded) != engine::TypeOf(msg) || engine::Encode(*decoded) != frame) {
    return MakeError(Errc::kCorrupt, std::string("a decoded ") +
                                         engine::MsgTypeName(engine::TypeOf(msg)) +
                                         " encodes to different bytes");
  }
  return decoded;
}

}  // namespace tandem::sim
