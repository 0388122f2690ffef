// The controller-satellite protocol (docs/satellite-protocol.md): message
// structs, their JSON codec and the frame codec. Sans-I/O; both
// tandem-controller and tandem-satellite use it.
//
// Decoding is lenient the way the document says: unknown fields are ignored,
// missing optional fields take their defaults; a field of the wrong type is an
// error naming the field.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tandem::satproto {

inline constexpr int kProtocolVersion = 1;
inline constexpr uint32_t kMaxFrameBytes = 64u << 20;
inline constexpr int kDefaultSatellitePort = 3366;

// --- desired state (controller -> satellite) --------------------------------------

struct PoolDesired {
  std::string name;
  std::string provider;  // FILE, FILE_THIN, DISKLESS, ...
  std::map<std::string, std::string> props;
  // The directory of a FILE/FILE_THIN pool ("" when not set).
  std::string Directory() const;
  bool operator==(const PoolDesired&) const = default;
};

struct NodeRef {
  std::string name;
  int node_id = 0;
  std::string address;  // IP of the node's active net interface
  bool diskless = false;
  bool tiebreaker = false;
  bool operator==(const NodeRef&) const = default;
};

struct VolumeDesired {
  int vnr = 0;
  int64_t size_kib = 0;
  int minor = 0;
  std::string pool;
  bool operator==(const VolumeDesired&) const = default;
};

// section ("net", "disk", "peer-device", "resource") -> option -> value
using DrbdOptions = std::map<std::string, std::map<std::string, std::string>>;

struct ResourceDesired {
  std::string name;
  int port = 0;
  std::string secret;
  int peer_slots = 7;
  int node_id = 0;
  std::vector<NodeRef> nodes;
  std::vector<VolumeDesired> volumes;
  DrbdOptions options;
  bool diskless = false;
  bool tiebreaker = false;
  bool block_device = false;  // a loop device on this node (resource property Tandem/BlockDevice)
  const NodeRef* FindNode(std::string_view name) const;
  bool operator==(const ResourceDesired&) const = default;
};

struct FullSync {
  uint64_t generation = 0;
  std::string cluster_id;
  std::vector<PoolDesired> pools;
  std::vector<ResourceDesired> resources;
};

struct Update {
  uint64_t generation = 0;
  bool has_pools = false;  // `pools` replaces the pool list
  std::vector<PoolDesired> pools;
  std::vector<ResourceDesired> upsert;
  std::vector<std::string> remove;  // JSON field "delete"
};

// --- handshake and acknowledgements -----------------------------------------------

struct Hello {
  int protocol = kProtocolVersion;
  std::string node;
  std::string cluster_id;  // controller only
  std::string version;     // satellite only
};

struct ApplyError {
  std::string resource;
  std::string message;
  bool operator==(const ApplyError&) const = default;
};

struct Applied {
  uint64_t generation = 0;
  std::vector<ApplyError> errors;
};

// --- observed state (satellite -> controller) -------------------------------------

struct PoolState {
  std::string name;
  std::string provider;
  std::optional<int64_t> total_kib;
  std::optional<int64_t> free_kib;
  bool supports_reflink = false;
  std::string error;
  bool operator==(const PoolState&) const = default;
};

struct PeerVolumeState {
  int vnr = 0;
  std::string replication;  // Established, SyncSource, SyncTarget, Off, ...
  std::string peer_disk;
  double done = 0;  // percent while syncing
  bool operator==(const PeerVolumeState&) const = default;
};

struct ConnectionState {
  std::string node;
  std::string connection;  // Connected, Connecting, StandAlone, ...
  std::string peer_role;
  bool split_brain = false;
  std::vector<PeerVolumeState> volumes;
  bool operator==(const ConnectionState&) const = default;
};

struct VolumeState {
  int vnr = 0;
  std::string disk_state;
  int64_t usable_kib = 0;
  int64_t allocated_kib = 0;
  std::string nbd_uri;
  std::string device_path;
  bool operator==(const VolumeState&) const = default;
};

struct ResourceState {
  std::string name;
  std::string role = "Unknown";
  bool in_use = false;
  std::vector<VolumeState> volumes;
  std::vector<ConnectionState> connections;
  std::string error;
  bool operator==(const ResourceState&) const = default;
};

struct Report {
  bool full = false;
  std::vector<PoolState> pools;
  std::vector<ResourceState> resources;
  std::vector<std::string> deleted;
};

// --- JSON ----------------------------------------------------------------------------
// Each ToJson sets "type"; FromJson does not check it (the caller dispatched on it).

boost::json::object ToJson(const FullSync& m);
boost::json::object ToJson(const Update& m);
boost::json::object ToJson(const Hello& m);
boost::json::object ToJson(const Applied& m);
boost::json::object ToJson(const Report& m);
boost::json::object ResourceToJson(const ResourceDesired& r);
boost::json::object ResourceStateToJson(const ResourceState& r);

Result<FullSync> FullSyncFromJson(const boost::json::object& o);
Result<Update> UpdateFromJson(const boost::json::object& o);
Result<Hello> HelloFromJson(const boost::json::object& o);
Result<Applied> AppliedFromJson(const boost::json::object& o);
Result<Report> ReportFromJson(const boost::json::object& o);
Result<ResourceDesired> ResourceFromJson(const boost::json::value& v);
Result<ResourceState> ResourceStateFromJson(const boost::json::value& v);

// {"type":"ping","seq":N}, {"type":"pong","seq":N}, {"type":"error",...}
boost::json::object Ping(uint64_t seq);
boost::json::object Pong(uint64_t seq);
boost::json::object ErrorMessage(std::string_view code, std::string_view message);

// The "type" of a message, "" when missing or not a string.
std::string TypeOf(const boost::json::object& o);

// --- frames ----------------------------------------------------------------------------

// 4-byte little-endian length + serialized object.
std::string EncodeFrame(const boost::json::object& o);

// Accumulates bytes from a stream and yields complete messages.
class FrameDecoder {
 public:
  void Feed(const char* data, size_t n) { buf_.append(data, n); }
  // kNotFound: no complete frame yet. kInvalidArgument: protocol error (too
  // long, not JSON, not an object, no type); the connection must be closed.
  Result<boost::json::object> Next();
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  size_t pos_ = 0;
};

}  // namespace tandem::satproto
