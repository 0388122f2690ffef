// Private to src/engine: the state of one Resource and the pieces that act on
// it. resource.cc holds admin commands, states and status; write_path.cc the
// application and peer I/O; connection.cc the handshake, 2PC and quorum;
// resync.cc bitmap exchange, resync and verify; md.cc metadata persistence
// and the activity log.
//
// Invariant: every state change goes through the Set* helpers, which emit an
// event line and mark the state dirty; after each input AfterInput() runs the
// sanitize step (drbd-semantics.md §2.3), recomputes quorum and repeats until
// nothing changes.
#pragma once

#include <array>
#include <cstdio>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/bitmap.h"
#include "engine/metadata.h"
#include "engine/rate_controller.h"
#include "engine/resource.h"
#include "engine/uuid_compare.h"

namespace tandem::engine {

// A bitmap exchange (WFBitMapS/T) that has not ended after this long drops
// the connection; the reconnect starts it anew.
inline constexpr Time kBitmapExchangeTimeout = 30 * kSec;

// printf-style formatting for event lines and messages (at most 511 bytes).
inline std::string Fmt(const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

inline constexpr uint64_t kBlockBytes = 4096;
inline constexpr uint32_t kBlocksPerExtent = kAlExtentBytes / kBlockBytes;
inline constexpr uint32_t kBitsPerPage = kMdBlock * 8;

// An application request in flight on this node.
struct AppReq {
  uint64_t seq = 0;  // engine-internal key
  AppRequest req;
  int vol = 0;  // index into volumes_
  bool local_pending = false;
  bool local_ok = false;
  uint64_t peers_pending = 0;  // node mask: waiting for this peer's ack
  Time started = 0;            // when it was submitted (ko-count)
  bool peer_ok = false;
  uint32_t epoch = 0;
  bool al_held = false;  // holds AL references that must be released
  bool submitted = false;
  // Flush: peers whose barrier ack we wait for, and the epoch needed from each.
  uint64_t barrier_wait = 0;
  std::array<uint32_t, kMaxNodes> barrier_epoch{};
  std::function<void(IoStatus)> internal_done;  // engine-internal flush (demotion)
  int read_peer = -1;                           // remote read in progress from this node
  uint64_t tried_peers = 0;                     // remote read candidates already tried
};

// A write received from a peer, on its way to the local disk.
struct PeerWrite {
  int peer = 0;
  int vol = 0;
  Data msg;
  bool al_held = false;
};

struct TlRange {
  int vol;
  uint64_t offset;
  uint32_t length;
};

// One volume of this node.
struct Volume {
  VolumeNr vnr;
  DiskState disk = DiskState::kDiskless;
  bool attached = false;  // backing device present (any state >= Failed)
  bool internal_md = true;
  uint64_t backing_bytes = 0;
  uint64_t usable_bytes = 0;  // what our backing can offer
  uint64_t size_bytes = 0;    // agreed size exposed to the application
  Superblock sb;
  std::vector<Bitmap> bitmaps;                  // by bitmap slot
  // Marks every block of the data area out of sync in `slot`. Bits past it
  // (the bitmap covers the whole backing file, metadata included) stay clear:
  // no resync ever visits them, so they would never clear.
  void MarkAllOutOfSync(int slot) {
    Bitmap& bm = bitmaps[slot];
    // Only the agreed size: bits beyond it are never requested by a target,
    // so a source would keep them for ever and resync them again and again.
    // A later grow marks its new area itself.
    uint64_t bytes = size_bytes > 0 ? std::min(size_bytes, usable_bytes) : usable_bytes;
    uint64_t data_bits = (bytes + kMdBlock - 1) / kMdBlock;
    if (usable_bytes == 0 || data_bits >= bm.size()) {
      bm.SetAll();
      return;
    }
    bm.ClearAll();
    bm.SetRange(0, data_bits);
  }
  std::vector<std::set<uint64_t>> dirty_pages;  // by slot: pages to write
  // An online grow relocating the metadata (metadata-format.md §9).
  struct Grow {
    uint64_t cookie = 0;
    uint64_t backing_bytes = 0;  // the new size
    MdLayout layout;             // for the new size
    bool writing = false;        // steps 2-4: nothing may reach the current area
    uint32_t al_next_slot = 0;   // ring position after the relocated transactions
  };
  std::optional<Grow> grow;
  std::vector<std::function<void()>> grow_held;  // metadata writes waiting for the switch
  bool new_uuid_pending = false;                // generate a new current UUID at the next write
  bool lost_disk = false;                       // detached on an I/O error while Primary
  bool generation_as_target = false;  // a Primary started a generation while SyncTarget
  bool unclean = false;  // attached after a crash; cleared by a completed resync
  std::deque<std::pair<int, ResyncRequest>> rs_paused;  // served once our disk is UpToDate
  // While Negotiating after an attach: the disk state the metadata claims;
  // the handshake decides what it really is.
  DiskState md_disk = DiskState::kDiskless;
  bool uuid_persisting = false;           // superblock with a new UUID is being written
  std::deque<uint64_t> negotiation_held;  // app writes waiting for a Negotiating disk
  std::deque<uint64_t> held_writes;       // app reqs waiting for the UUID write
  // Activity log: al_extents slots; extent -> slot; LRU of unreferenced.
  std::vector<uint32_t> al_slots;                   // slot -> extent (kAlNoExtent)
  std::unordered_map<uint32_t, uint32_t> al_index;  // extent -> slot
  std::vector<uint32_t> al_refs;                    // slot -> in-flight references
  std::list<uint32_t> al_lru;                       // unreferenced active slots, least recent first
  std::unordered_map<uint32_t, std::list<uint32_t>::iterator> al_lru_pos;
  uint64_t al_tr_number = 0;
  uint32_t al_next_slot_in_ring = 0;
  uint32_t al_context_cursor = 0;
  bool al_writing = false;
  std::vector<uint32_t> al_want;     // extents waiting for activation
  std::vector<uint32_t> al_pending;  // activated by the transaction in flight: not hot yet
  std::vector<std::function<void()>> al_waiters;  // run after the next transaction
  bool sb_writing = false;
  Superblock sb_submitted;  // what the last superblock write carried
  bool sb_dirty_again = false;
  std::vector<std::function<void()>> sb_waiters;       // run when the write in flight is durable
  std::vector<std::function<void()>> sb_next_waiters;  // need the next superblock write
  // Blocks with a write in flight to the local disk (application, peer or
  // resync), and work waiting for such blocks to settle (§8.3).
  std::unordered_map<uint64_t, int> busy_blocks;
  std::deque<std::function<bool()>> busy_waiters;
  std::deque<std::pair<int, Data>> deferred_peer_writes;  // in arrival order
  uint64_t app_sectors_since_check = 0;                   // for c-min-rate
};

// Per peer and volume.
struct PeerDevice {
  ReplState repl = ReplState::kOff;
  DiskState peer_disk = DiskState::kDUnknown;
  UuidSide peer_uuids;
  bool got_uuids = false;
  bool got_sizes = false;
  uint64_t peer_max_bytes = 0;
  uint64_t peer_current_bytes = 0;
  UuidSide sent_uuids;  // what we sent in this handshake
  bool uuids_sent = false;
  // WFBitMapS/T: a bitmap exchange that has not ended by then drops the
  // connection (a lost message or a stuck peer would hold it for ever).
  Time wfbitmap_deadline = 0;
  Time last_rehandshake = -1;  // when we last asked for a volume handshake round
  Time bits_seen_since = -1;   // out-of-sync bits towards this Established peer since
  uint64_t verify_bits = 0;    // bits online verify found: no automatic resync for them (§8.4)
  // Resync (SyncTarget side): next bit to request, requests in flight.
  uint64_t rs_cursor = 0;
  std::set<uint64_t> rs_in_flight;   // block numbers requested
  std::set<uint64_t> rs_superseded;  // blocks written by application data since requested
  // Requested blocks in [offset, offset + length) were written since: their
  // replies are stale and must not clear them (§8.3).
  void SupersedeRequested(uint64_t offset, uint64_t length) {
    if (rs_in_flight.empty() || length == 0) return;
    for (uint64_t b = offset / kBlockBytes; b <= (offset + length - 1) / kBlockBytes; ++b)
      if (rs_in_flight.count(b)) rs_superseded.insert(b);
  }
  // SyncSource side: blocks read for a resync reply and not acknowledged yet.
  std::set<uint64_t> rs_serving;
  uint64_t rs_total = 0;
  uint64_t rs_done = 0;
  uint64_t rs_sectors_in = 0;  // came back since the last controller step
  std::optional<RateController> rate;
  bool rs_full = false;  // full sync (for UUID handling at the end)
  // Verify (VerifyS side).
  uint64_t ov_cursor = 0;
  uint64_t ov_in_flight = 0;
  uint64_t ov_out_of_sync = 0;
  uint64_t ov_end = 0;
};

// A written range and the epoch it belongs to. Epochs only grow, so the
// transfer log and the unconfirmed list are flat queues ordered by epoch
// (no allocation per epoch on the write path).
struct EpochRange {
  uint32_t epoch = 0;
  TlRange range;
};

// Who an epoch of our writes went to and who acknowledged it (peer-acks).
struct EpochAcks {
  uint64_t sent_to = 0;
  uint64_t acked = 0;
  uint64_t lost = 0;
  bool closed = false;
};

struct Peer {
  NodeId id;
  std::string name;
  bool diskless = false;  // configured intentionally diskless
  bool exists = false;    // a node of the resource other than self
  ConnState conn = ConnState::kStandAlone;
  bool want = false;  // we want the transport up
  bool transport_up = false;
  Role role = Role::kUnknown;
  uint32_t state_flags = 0;
  uint64_t connected_mask = 0;
  uint64_t primary_mask = 0;
  bool got_params = false;
  bool got_state = false;
  bool handshake_done = false;
  bool discard_my_data = false;
  bool reconnect = false;                // was Connected and lost it without our restart
  bool lost_as_primary = false;          // both were Primary when the connection was lost
  bool we_were_primary_at_loss = false;  // our role when this connection was lost
  Time lost_at = -1;                     // when the connection was last lost
  // A graceful disconnect waiting for the peer to acknowledge its notice.
  std::vector<std::function<void()>> disconnect_done;
  Time disconnect_deadline = 0;
  Time standalone_drop_at = 0;
  std::vector<PeerDevice> dev;  // by volume index
  // Transfer log (we are the writer): epochs sent and not yet barrier-acked.
  std::deque<EpochRange> tl;
  uint32_t last_epoch_sent = 0;  // last epoch with writes to this peer
  uint32_t last_barrier_acked = 0;
  bool writes_in_cur_epoch = false;
  // Receiver side.
  std::map<uint32_t, uint32_t> rx_epoch_active;  // epoch -> writes not yet on disk
  std::map<uint32_t, uint32_t> rx_epoch_size;
  std::deque<uint32_t> rx_barriers;  // barriers received, not yet acked
  uint64_t rx_done = 0;            // this peer's writes completed on our disk
  uint64_t rx_flush_submitted = 0;  // rx_done when the latest flush was submitted
  uint64_t rx_flushed = 0;          // rx_done covered by the completed flushes
  std::deque<Message> rx_held;           // Data and Barriers held behind an unacked barrier
  uint32_t conn_gen = 0;                 // bumped on every connection loss
  uint64_t last_dagtag = 0;              // highest dagtag received from this peer as Primary
  std::deque<ResyncRequest> rs_waiting;  // requests waiting for a dagtag
  // Highest dagtag of this peer's writes (as Primary) that went to our disk.
  // Unlike last_dagtag it never counts a write we dropped or could not store.
  // Kept when the connection is lost, so that two Secondaries can tell who
  // got further in a lost Primary's writes (Uuids.dagtags, §3.6); reset when
  // the connection comes up again (a restarted peer counts from 0).
  uint64_t rx_dagtag = 0;
  // Writes received from this peer (as Primary) whose peer-ack has not come:
  // epoch -> ranges (§3.6).
  std::deque<EpochRange> rx_unconfirmed;
  Time last_rx = 0;
  Time ping_sent = 0;
  std::unordered_map<uint64_t, uint64_t> reads;  // our read request id -> app seq
};

// The two-phase commit this node takes part in.
struct Twopc {
  uint32_t tid = 0;
  int initiator = -1;
  int parent = -1;  // who sent us the prepare (-1: we initiated)
  TwopcKind kind = TwopcKind::kPromote;
  uint8_t target = 0xff;
  uint64_t param = 0;
  uint64_t waiting = 0;  // children whose reply is outstanding
  uint64_t children = 0;
  bool vote_no = false;
  int8_t no_code = 0;
  bool retry = false;
  uint64_t reachable = 0, primary = 0, weak = 0;
  uint64_t max_size = 0;
  Time deadline = 0;
  bool prepared = false;  // replied yes, waiting for commit/abort
};

// A lost-peer query (TwopcPrepare kind kLostPeer) this node started or
// forwards: who is Primary in the partition now that a connection is gone.
// It changes no state, so it never blocks or is blocked by a 2PC.
struct LostPeerQuery {
  uint32_t tid = 0;
  int parent = -1;       // who sent it to us (-1: we started it)
  uint64_t waiting = 0;  // peers whose reply is outstanding
  uint64_t primary = 0;  // Primaries named by the replies so far
  std::array<uint64_t, kMaxNodes> replied{};  // each child's answer (initiator only)
  Time deadline = 0;
};

struct PendingPromote {
  uint64_t cookie = 0;
  bool force = false;
  bool automatic = false;
  Time deadline = 0;
  Time retry_at = 0;
  int attempts = 0;
};

class ResourceImpl {
 public:
  ResourceImpl(ResourceConfig config, Env* env);

  // --- host interface (see resource.h)
  void TakeActions(std::vector<Action>* out);
  void AdvanceTime(Time now);
  void Attach(uint64_t cookie, VolumeNr vnr, ByteSpan md, uint64_t backing, bool internal);
  void Detach(uint64_t cookie, VolumeNr vnr);
  void Connect(uint64_t cookie, NodeId peer, bool discard_my_data);
  void ConnectAll(uint64_t cookie);
  void Disconnect(uint64_t cookie, NodeId peer);
  void DisconnectImpl(int peer, std::function<void()> done);
  void DetachAllForDown(uint64_t cookie);
  void FinishDisconnect(int peer);
  void Down(uint64_t cookie);
  void Primary(uint64_t cookie, bool force);
  void Secondary(uint64_t cookie, bool force);
  // Flushes everything to every peer, then demotes; `done` gets the result.
  void DemoteAfterFlush(std::function<void(SsCode)> done);
  void NewCurrentUuid(uint64_t cookie, VolumeNr vnr, bool clear_bitmap);
  void Invalidate(uint64_t cookie, VolumeNr vnr);
  void InvalidateRemote(uint64_t cookie, NodeId peer, VolumeNr vnr);
  void Verify(uint64_t cookie, NodeId peer, VolumeNr vnr);
  void Resize(uint64_t cookie, VolumeNr vnr, uint64_t new_bytes);
  void Grow(uint64_t cookie, VolumeNr vnr, uint64_t new_backing_bytes);
  void SetOptions(uint64_t cookie, const Options& options);
  void Reconfigure(uint64_t cookie, const std::vector<NodeConfig>& nodes);
  void ForgetPeer(int p);
  void OpenForWrite(uint64_t cookie);
  void CloseWriter();
  void Submit(const AppRequest& req);
  void OnTransportUp(NodeId peer);
  void OnTransportDown(NodeId peer);
  void OnMessage(NodeId peer, Message msg);
  void OnDiskComplete(uint64_t io_id, bool ok, SharedBytes data);
  ResourceStatus GetStatus() const;
  const ResourceConfig& config() const { return cfg_; }

  // --- introspection for tests and the simulator
  const Volume& TEST_volume(int i) const { return volumes_[i]; }
  const Peer& TEST_peer(int node) const { return peers_[node]; }
  bool TEST_have_quorum() const { return have_quorum_; }

 private:
  friend class WritePath;
  // ---- plumbing (resource.cc)
  void Emit(Action a) { actions_.push_back(std::move(a)); }
  void Send(int peer, Message m);
  void Done(uint64_t cookie, SsCode code, std::string msg = {});
  void EmitEvent(std::string line);
  void ArmTimerAt(Time t);
  uint64_t NewIoId() { return ++io_seq_; }
  void SubmitIo(DiskIo io, std::function<void(bool, SharedBytes)> done);
  // Reads [offset, offset+length) of the volume's data area.
  void ReadLocal(int vol, uint64_t offset, uint32_t length,
                 std::function<void(bool, SharedBytes)> done);
  int VolIndex(VolumeNr vnr) const;
  bool ValidPeer(NodeId id) const;
  void AfterInput();
  void Sanitize();
  bool IsDiskfulPeer(int p) const { return peers_[p].exists && !peers_[p].diskless; }
  int SlotOf(const Volume& v, int peer) const { return v.sb.peers[peer].bitmap_index; }
  // The peer's bitmap slot, assigning a free one (all bits set: nothing is
  // known about what it misses) to a diskful peer that has none, e.g. one that
  // was diskless when the metadata was created. -1 when every slot is taken.
  int EnsureSlot(int vol, int peer);
  void BroadcastState();
  bool AnyPrimaryPeer() const;
  bool HasUpToDateData(int vol) const;  // local UpToDate or a connected UpToDate peer
  Role role() const { return role_; }

  // state setters: emit events, mark dirty
  void SetRole(Role r);
  void SetDisk(int vol, DiskState s);
  void SetConn(int peer, ConnState s);
  void SetPeerRole(int peer, Role r);
  void SetRepl(int peer, int vol, ReplState s);
  void SetPeerDisk(int peer, int vol, DiskState s);

  // ---- write path (write_path.cc)
  void StartRequest(AppReq& r);
  void ProceedWrite(uint64_t seq);
  void IssueWrite(AppReq& r);
  void IssueRead(AppReq& r);
  void IssueRemoteRead(AppReq& r);
  void IssueFlush(AppReq& r);
  void MaybeComplete(uint64_t seq);
  void CompleteReq(uint64_t seq, IoStatus st, SharedBytes data = {});
  void CloseEpoch();
  bool ShouldSendData(int peer, int vol) const;
  bool ShouldSendOutOfSync(int peer, int vol) const;
  void MarkOutOfSync(int vol, int peer, uint64_t offset, uint64_t length);
  void MarkInSync(int vol, int peer, uint64_t offset, uint64_t length);
  void OnPeerData(int peer, Data d);
  void ReceivePeerWrite(int peer, Data d);
  void SubmitPeerWrite(int peer, int vol, uint32_t gen, Data d);
  void RetryWaitingResyncRequests();
  void ServeResyncRequest(int peer, const ResyncRequest& m);
  void PeerWriteDone(int peer, int vol, const Data& d, bool ok);
  void MaybeFinishBarrier(int peer);
  // Flushes the disk for the peer's completed writes; false if there was
  // nothing to flush (no attached disk), and rx_flushed already covers them.
  bool StartRxFlush(int peer);
  void OnBarrier(int peer, const Barrier& b);
  void OnBarrierAck(int peer, const BarrierAck& a);
  void OnWriteAck(int peer, const WriteAck& a);
  void FlushPeerAcks(bool force_clean);
  void OnPeerAck(int peer, const PeerAck& m);
  void UnconfirmedTowardsOthers(int peer);
  void OnReadRequest(int peer, const ReadRequest& r);
  void OnReadReply(int peer, const ReadReply& r);
  void FailIoNoQuorum();
  void ResumeSuspended();
  // Starts the application writes held while a handshake was in progress.
  void ReleaseFrozenWrites();
  bool WriteAllowed(IoStatus* why) const;
  void ConnectionLostWrites(int peer);
  void OnLocalDiskError(int vol);
  bool OverlapsLocalWrite(int vol, uint64_t offset, uint32_t length) const;

  // ---- connections, 2PC, quorum (connection.cc)
  void StartHandshake(int peer);
  void SendUuids(int peer, int vol);
  UuidSide MyUuidSide(int peer, int vol) const;
  void OnParams(int peer, const Params& m);
  void OnSizes(int peer, const Sizes& m);
  void OnUuids(int peer, const Uuids& m);
  void OnState(int peer, const State& m);
  void MaybeFinishHandshake(int peer);
  void DecideVolume(int peer, int vol);
  HandshakePolicy Policy() const;
  void DropConn(int peer, ConnState why);
  void GoStandAlone(int peer);
  // ko-count: drops peers that left a request unanswered for timeout * ko-count.
  void CheckKoCount();
  // Connect after a StandAlone verdict whose transport is still up.
  void ReopenAfterVerdict(int peer);
  // After a handshake verdict that ends in StandAlone, keep the transport
  // open a moment so the peer, deciding from the same data, reaches the same
  // verdict instead of seeing a broken connection.
  void StandAloneAfterVerdict(int peer);
  void LostConnection(int peer, ConnState why);
  void StartTwopc(TwopcKind kind, uint8_t target, uint64_t param);
  void OnTwopcPrepare(int peer, const TwopcPrepare& m);
  void OnTwopcReply(int peer, const TwopcReply& m);
  void OnTwopcCommit(int peer, const TwopcCommit& m);
  void OnTwopcAbort(int peer, const TwopcAbort& m);
  void TwopcMaybeReply();
  void TwopcFinish(bool commit);
  void ApplyTwopcCommit(const Twopc& t, uint64_t primary);
  void TryPromote();
  SsCode CheckPromote(bool force, std::string* why) const;
  SsCode CheckPromoteData(bool force, std::string* why) const;
  void DoPromote(bool force);
  void DoDemote();
  void UpdateQuorum();
  void UpdateFarAwayPrimary();
  void StartLostPeerQuery(int lost);
  void OnLostPeerPrepare(int p, const TwopcPrepare& m);
  bool OnLostPeerReply(int p, const TwopcReply& m);
  void LostPeerQueryMaybeDone(size_t i);
  void ExpireLostPeerQueries();
  // A connected disk below UpToDate with no resync running asks an UpToDate
  // peer for a volume handshake round, so the UUID rules decide again.
  void MaybeRehandshake();
  // The lost-peer re-evaluation (§2.3): with no Primary anywhere in our
  // partition and every connected peer on our generation and no better than
  // Outdated, nobody here has newer data: Outdated becomes UpToDate. Only
  // peers with a disk count as witnesses, and every diskful node outside the
  // partition must be known Inconsistent/Outdated: it may hold the newer data.
  void MaybeUpgradeOutdated();
  uint64_t ConnectedMask() const;
  uint64_t PrimaryMask() const;

  // ---- resync and verify (resync.cc)
  void StartBitmapExchange(int peer, int vol, BitmapPrep prep, int other, bool full);
  void OnBitmap(int peer, const BitmapMsg& m);
  // Our slot for `peer` as a BitmapMsg of the given phase.
  BitmapMsg MakeBitmapMsg(int peer, int vol, uint8_t phase) const;
  void BeginSyncSource(int peer, int vol);
  void BeginSyncTarget(int peer, int vol);
  void ResyncStep(int peer, int vol);
  void OnResyncRequest(int peer, const ResyncRequest& m);
  void OnResyncReply(int peer, const ResyncReply& m);
  void OnResyncAck(int peer, const ResyncAck& m);
  void MaybeFinishResync(int peer, int vol);
  void FinishResyncTarget(int peer, int vol);
  void OnVerifyRequest(int peer, const VerifyRequest& m);
  void OnVerifyReply(int peer, const VerifyReply& m);
  void OnVerifyResult(int peer, const VerifyResult& m);
  void VerifyStep(int peer, int vol);
  bool IsSyncTarget(int vol) const;
  void AbortResync(int peer, int vol);
  // When no SyncTarget role is active on vol, a paused one takes over.
  void ActivatePausedTarget(int vol);

  // ---- metadata and activity log (md.cc)
  bool LoadMetadata(int vol, ByteSpan md, std::string* why);
  void WriteSuperblock(int vol, std::function<void()> then);
  void WriteDirtyBitmapPages(int vol, std::function<void()> then);
  void MarkPageDirty(int vol, int slot, uint64_t bit_first, uint64_t bit_count);
  // Activates the AL extents of [offset, offset+length); runs `go` when active.
  void AlBegin(int vol, uint64_t offset, uint64_t length, std::function<void()> go);
  bool AlTryBeginHot(int vol, uint64_t offset, uint64_t length);
  void AlEnd(int vol, uint64_t offset, uint64_t length);
  void AlWriteNext(int vol);
  void AlInitRing(int vol, std::function<void()> then);
  void WriteMd(int vol, uint64_t offset, Bytes data, std::function<void()> then,
               DiskArea area = DiskArea::kMeta);
  // Online grow (metadata-format.md §9).
  void GrowRelocate(int vol);
  void AdoptAgreedSize(int vol, uint64_t bytes);
  void SendSizes(int p, int vol);
  void GrowSwitch(int vol);
  void AbortGrow(int vol, const std::string& why);
  // Makes every completed data write of the volume durable, then `then`.
  void FlushData(int vol, std::function<void()> then);
  bool BlocksBusy(int vol, uint64_t offset, uint64_t length) const;
  void BusyAdd(int vol, uint64_t offset, uint64_t length);
  void BusyRelease(int vol, uint64_t offset, uint64_t length);
  void WhenNotBusy(int vol, uint64_t offset, uint64_t length, std::function<void()> go);
  bool MaybeNewUuidForWrite(int vol);
  void NewCurrentUuidNow(int vol);
  // also_absent: peers to treat as absent although connected (weakly
  // connected: not receiving the writer's data).
  void RotateCurrentIntoBitmaps(int vol, uint64_t also_absent = 0);
  void AdoptPeerUuid(int vol, uint64_t uuid, int from = -1);
  void PushHistory(int vol, uint64_t uuid);
  void SetMdFlag(int vol, uint32_t flag, bool on);

  ResourceConfig cfg_;
  Options& opts_ = cfg_.options;
  Env* env_;
  Time now_ = 0;
  std::vector<Action> actions_;
  uint64_t io_seq_ = 0;
  uint64_t req_seq_ = 0;
  struct IoWait {
    std::function<void(bool, SharedBytes)> done;
    Time submitted = 0;
    int vol = 0;
  };
  std::unordered_map<uint64_t, IoWait> io_done_;
  void CheckDiskTimeout();
  int self_ = 0;
  Role role_ = Role::kSecondary;
  bool explicit_primary_ = false;
  int writers_ = 0;
  bool force_io_failures_ = false;
  std::vector<Volume> volumes_;
  std::vector<Peer> peers_;  // indexed by node id
  std::unordered_map<uint64_t, AppReq> reqs_;
  std::deque<uint64_t> suspended_;                        // app reqs held while I/O is suspended
  std::vector<uint64_t> flushes_;                         // flush reqs waiting for barrier acks
  std::vector<std::pair<uint64_t, bool>> pending_close_;  // demote after flush
  uint32_t cur_epoch_ = 1;
  std::deque<std::pair<uint32_t, EpochAcks>> epoch_acks_;  // by epoch, ascending
  uint32_t clean_final_upto_ = 0;                          // epochs up to here final and complete
  uint32_t clean_acked_sent_ = 0;                          // last clean PeerAck sent
  uint32_t cur_epoch_writes_ = 0;
  uint64_t dagtag_ = 0;
  bool have_quorum_ = true;
  bool suspended_quorum_ = false;
  bool lost_quorum_as_primary_ = false;
  bool dirty_ = false;
  int handshaking_ = 0;          // connections in the middle of a handshake
  std::deque<uint64_t> frozen_;  // app writes held during handshakes
  std::optional<Twopc> twopc_;
  std::vector<LostPeerQuery> lost_queries_;
  uint64_t far_confirmed_ = 0;  // far-away Primaries a lost-peer query confirmed
  uint32_t twopc_seq_ = 0;
  std::optional<PendingPromote> promote_;
  std::vector<uint64_t> twopc_cookies_;
  Time next_tick_ = 0;
  Time next_resync_step_ = 0;
  Time next_ko_check_ = 0;  // next look for peers that stopped acknowledging (ko-count)
  Time armed_ = 0;
  // Re-run the state/time based checks (re-handshake, lost-peer
  // re-evaluation) after this input: a timer fired or a round decided.
  bool recheck_ = false;
  bool down_ = false;
};

}  // namespace tandem::engine
