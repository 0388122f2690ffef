// Resource: the replication engine for one resource on one node. A
// deterministic, single-threaded state machine, sans I/O (DESIGN.md §4).
//
// The host (tandemd, or the simulator) feeds it events by calling the methods
// below and then drains the actions it produced with TakeActions(), carrying
// them out: send a message to a peer, submit a disk I/O, complete an
// application request, keep or drop a connection, arm a timer, report an
// admin result or a state-change event. Completions come back as calls
// (OnDiskComplete, OnMessage, ...). Same inputs in the same order give the
// same actions. The engine never reads a clock, creates a thread or performs
// I/O; its only randomness comes from Env::Random64().
//
// Thread-safety: none; one thread owns a Resource.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/ids.h"
#include "engine/protocol.h"
#include "engine/types.h"

namespace tandem::engine {

struct NodeConfig {
  NodeId id;
  std::string name;
  bool diskless = false;  // intentionally diskless (client / tiebreaker)
};

struct ResourceConfig {
  std::string name;
  NodeId self;
  std::vector<NodeConfig> nodes;  // every node of the resource, self included
  std::vector<VolumeNr> volumes;  // one consistency group
  Options options;
  // Test-only fault in the engine itself, used to prove the simulator's
  // checkers can fail: FLUSH completes without waiting for barrier acks.
  bool TEST_broken_flush = false;
};

class Env {
 public:
  virtual ~Env() = default;
  virtual uint64_t Random64() = 0;
};

// --- inputs -----------------------------------------------------------------

enum class AppOp : uint8_t { kRead, kWrite, kFlush, kTrim, kWriteZeroes };

struct AppRequest {
  uint64_t id = 0;  // the host's id, echoed in Complete
  VolumeNr vnr{0};
  AppOp op = AppOp::kRead;
  uint64_t offset = 0;  // bytes, 512-aligned
  uint32_t length = 0;  // bytes, 512-aligned
  bool fua = false;
  SharedBytes data;  // kWrite: exactly `length` bytes
};

// --- outputs ------------------------------------------------------------------

enum class IoStatus : uint8_t {
  kOk,
  kIoError,  // EIO: no quorum with on-no-quorum io-error, no data accessible, all replicas failed
  kNotPrimary,  // EROFS: writes on a Secondary
  kNoData,      // ENODATA: reads without accessible up-to-date data
  kInvalid,     // EINVAL: out of range or misaligned
};

// kMetaNext: the metadata area an online grow is writing (metadata-format.md
// §9); offsets relative to its start. It becomes kMeta when Grow completes.
enum class DiskArea : uint8_t { kData, kMeta, kMetaNext };
enum class DiskOp : uint8_t { kRead, kWrite, kFlush, kTrim, kZeroes };

struct SendMsg {
  NodeId peer;
  Message msg;  // stream: StreamFor(TypeOf(msg))
};
struct DiskIo {
  uint64_t io_id = 0;
  VolumeNr vnr{0};
  DiskArea area = DiskArea::kData;
  DiskOp op = DiskOp::kRead;
  uint64_t offset = 0;  // bytes within the area
  uint32_t length = 0;
  bool fua = false;  // durable when complete
  SharedBytes data;  // writes
};
struct Complete {
  uint64_t req_id = 0;
  IoStatus status = IoStatus::kOk;
  SharedBytes data;  // reads
};
// The transport should keep a connection to `peer` up (retrying every
// connect-int), or stop trying and close it.
struct WantConnection {
  NodeId peer;
  bool want = true;
};
// Close the current connection to `peer` now (the host then calls
// OnTransportDown); with WantConnection still set, the transport reconnects.
struct DropConnection {
  NodeId peer;
};
// Call AdvanceTime() at or after `at`. Only the latest ArmTimer counts.
struct ArmTimer {
  Time at = 0;
};
struct AdminDone {
  uint64_t cookie = 0;
  SsCode code = SsCode::kSuccess;
  std::string message;
  bool ok() const { return code == SsCode::kSuccess || code == SsCode::kNothingToDo; }
};
// One line in the style of `drbdsetup events2`, e.g.
// "change peer-device name:r0 peer-node-id:1 volume:0 replication:SyncTarget".
struct Event {
  Time time = 0;
  std::string line;
};

using Action = std::variant<SendMsg, DiskIo, Complete, WantConnection, DropConnection, ArmTimer,
                            AdminDone, Event>;

// --- status -------------------------------------------------------------------

struct PeerDeviceStatus {
  VolumeNr vnr;
  ReplState repl = ReplState::kOff;
  DiskState peer_disk = DiskState::kDUnknown;
  uint64_t out_of_sync_bytes = 0;
  uint64_t resync_total_bytes = 0;  // when the current resync started
  uint64_t resynced_bytes = 0;      // moved so far by this resync
  double done_percent = 100.0;
};
struct ConnectionStatus {
  NodeId peer;
  std::string name;
  ConnState conn = ConnState::kStandAlone;
  Role peer_role = Role::kUnknown;
  std::vector<PeerDeviceStatus> volumes;
};
struct VolumeStatus {
  VolumeNr vnr;
  DiskState disk = DiskState::kDiskless;
  uint64_t size_bytes = 0;
  bool quorum = true;
  uint64_t current_uuid = 0;
};
struct ResourceStatus {
  std::string name;
  NodeId self;
  Role role = Role::kSecondary;
  bool suspended = false;  // I/O suspended (on-no-quorum suspend-io)
  bool quorum = true;
  bool may_promote = false;
  std::vector<VolumeStatus> volumes;
  std::vector<ConnectionStatus> connections;
};

class ResourceImpl;

class Resource {
 public:
  Resource(ResourceConfig config, Env* env);
  ~Resource();
  Resource(const Resource&) = delete;
  Resource& operator=(const Resource&) = delete;

  // Moves the actions produced so far into *out (appending).
  void TakeActions(std::vector<Action>* out);

  // The current time; fires due timers. Call before delivering each event.
  void AdvanceTime(Time now);

  // --- admin commands: each ends with one AdminDone{cookie}, possibly at once.
  // Attach a volume's backing device; md_area is the whole metadata area as
  // read from disk (see metadata.h), backing_bytes the backing device size.
  void Attach(uint64_t cookie, VolumeNr vnr, ByteSpan md_area, uint64_t backing_bytes,
              bool internal_md);
  void Detach(uint64_t cookie, VolumeNr vnr);
  // Start connecting to every peer (drbdadm up = attach + connect).
  void Connect(uint64_t cookie, NodeId peer, bool discard_my_data);
  void ConnectAll(uint64_t cookie);
  void Disconnect(uint64_t cookie, NodeId peer);
  void Down(uint64_t cookie);
  void Primary(uint64_t cookie, bool force);
  void Secondary(uint64_t cookie, bool force);
  void NewCurrentUuid(uint64_t cookie, VolumeNr vnr, bool clear_bitmap);
  void Invalidate(uint64_t cookie, VolumeNr vnr);  // full resync to me
  void InvalidateRemote(uint64_t cookie, NodeId peer, VolumeNr vnr);
  void Verify(uint64_t cookie, NodeId peer, VolumeNr vnr);
  void Resize(uint64_t cookie, VolumeNr vnr, uint64_t new_bytes);  // 0: largest possible
  // The host made this volume's backing device larger (new_backing_bytes in
  // all): the engine relocates its metadata into the area the host addresses
  // as kMetaNext (metadata-format.md §9) and completes when it is the metadata
  // area. The usable size grows; the agreed size only with Resize.
  void Grow(uint64_t cookie, VolumeNr vnr, uint64_t new_backing_bytes);
  void SetOptions(uint64_t cookie, const Options& options);        // adjust
  // A changed node set (adjust): peers no longer listed are disconnected and
  // forgotten (their bitmap slots freed); new peers are added StandAlone
  // (ConnectAll connects them); a peer whose diskless flag changed
  // re-handshakes; a node id that now names another node is forgotten and
  // added anew. This node's own id and diskless flag cannot change here.
  void Reconfigure(uint64_t cookie, const std::vector<NodeConfig>& nodes);

  // --- frontends (auto-promote)
  // A writer opens the volume: promotes if needed (auto-promote). AdminDone
  // reports the outcome; a refusal says why ("r0 is Primary on bravo").
  void OpenForWrite(uint64_t cookie);
  // The last writer closed: flush everything to every peer, then demote if the
  // promotion was automatic.
  void CloseWriter();

  // --- application I/O
  void Submit(const AppRequest& req);

  // --- transport
  void OnTransportUp(NodeId peer);
  void OnTransportDown(NodeId peer);
  void OnMessage(NodeId peer, Message msg);

  // --- disk
  void OnDiskComplete(uint64_t io_id, bool ok, SharedBytes data);

  ResourceStatus GetStatus() const;
  const ResourceConfig& config() const;
  // Engine internals for tests and the simulator's checkers.
  ResourceImpl* TEST_impl() { return impl_.get(); }

 private:
  std::unique_ptr<ResourceImpl> impl_;
};

const char* IoStatusName(IoStatus s);

}  // namespace tandem::engine
