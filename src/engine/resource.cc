// Resource: admin commands, the state setters with their events, the
// sanitize step, timers and status. See internal/resource_impl.h for the map.
#include "engine/resource.h"

#include <algorithm>
#include <cstdio>

#include "common/check.h"
#include "engine/internal/resource_impl.h"

namespace tandem::engine {

// ---------------------------------------------------------------------------
// construction and plumbing

ResourceImpl::ResourceImpl(ResourceConfig config, Env* env) : cfg_(std::move(config)), env_(env) {
  TANDEM_CHECK(env_ != nullptr);
  self_ = cfg_.self.value();
  TANDEM_CHECK(self_ < kMaxNodes);
  peers_.resize(kMaxNodes);
  for (int i = 0; i < kMaxNodes; ++i) peers_[i].id = NodeId(static_cast<uint8_t>(i));
  for (const NodeConfig& n : cfg_.nodes) {
    if (n.id.value() == self_) continue;
    Peer& p = peers_[n.id.value()];
    p.exists = true;
    p.name = n.name;
    p.diskless = n.diskless;
    p.dev.resize(cfg_.volumes.size());
  }
  volumes_.resize(cfg_.volumes.size());
  for (size_t i = 0; i < cfg_.volumes.size(); ++i) volumes_[i].vnr = cfg_.volumes[i];
  EmitEvent(Fmt("create resource name:%s role:Secondary", cfg_.name.c_str()));
}

void ResourceImpl::TakeActions(std::vector<Action>* out) {
  if (out->empty()) {
    out->swap(actions_);
  } else {
    for (Action& a : actions_) out->push_back(std::move(a));
    actions_.clear();
  }
}

void ResourceImpl::Send(int peer, Message m) {
  Emit(SendMsg{NodeId(static_cast<uint8_t>(peer)), std::move(m)});
}

void ResourceImpl::Done(uint64_t cookie, SsCode code, std::string msg) {
  if (msg.empty()) msg = SsCodeMessage(code);
  Emit(AdminDone{cookie, code, std::move(msg)});
}

void ResourceImpl::EmitEvent(std::string line) { Emit(Event{now_, std::move(line)}); }

void ResourceImpl::ArmTimerAt(Time t) {
  if (armed_ != 0 && armed_ <= t && armed_ > now_) return;
  armed_ = t;
  Emit(ArmTimer{t});
}

void ResourceImpl::SubmitIo(DiskIo io, std::function<void(bool, SharedBytes)> done) {
  io.io_id = NewIoId();
  io_done_.emplace(io.io_id, IoWait{std::move(done), now_, std::max(0, VolIndex(io.vnr))});
  Emit(std::move(io));
}

void ResourceImpl::ReadLocal(int vol, uint64_t offset, uint32_t length,
                             std::function<void(bool, SharedBytes)> done) {
  DiskIo io;
  io.vnr = volumes_[vol].vnr;
  io.op = DiskOp::kRead;
  io.offset = offset;
  io.length = length;
  SubmitIo(std::move(io), std::move(done));
}

// disk-timeout (§2.4): a backing device that stops completing I/O is
// detached; what waited for it fails over to the peers. A completion that
// arrives later is ignored.
void ResourceImpl::CheckDiskTimeout() {
  if (opts_.disk_timeout <= 0 || io_done_.empty()) return;
  Time oldest = now_;
  std::vector<uint64_t> expired;
  for (const auto& [id, w] : io_done_) {
    if (now_ - w.submitted >= opts_.disk_timeout) {
      expired.push_back(id);
    } else {
      oldest = std::min(oldest, w.submitted);
    }
  }
  std::sort(expired.begin(), expired.end());
  for (uint64_t id : expired) {
    auto it = io_done_.find(id);
    if (it == io_done_.end()) continue;
    IoWait w = std::move(it->second);
    io_done_.erase(it);
    if (volumes_[w.vol].attached) {
      EmitEvent("disk-timeout: the backing device of volume " +
                std::to_string(volumes_[w.vol].vnr.value()) + " stopped completing I/O");
      OnLocalDiskError(w.vol);
    }
    w.done(false, nullptr);
  }
  if (!io_done_.empty()) ArmTimerAt(oldest + opts_.disk_timeout);
}

int ResourceImpl::VolIndex(VolumeNr vnr) const {
  for (size_t i = 0; i < volumes_.size(); ++i)
    if (volumes_[i].vnr == vnr) return static_cast<int>(i);
  return -1;
}

bool ResourceImpl::ValidPeer(NodeId id) const {
  return id.value() < kMaxNodes && peers_[id.value()].exists;
}

uint64_t ResourceImpl::ConnectedMask() const {
  uint64_t m = 0;
  for (int p = 0; p < kMaxNodes; ++p)
    if (peers_[p].exists && peers_[p].conn == ConnState::kConnected) m |= 1ull << p;
  return m;
}

uint64_t ResourceImpl::PrimaryMask() const {
  uint64_t m = role_ == Role::kPrimary ? 1ull << self_ : 0;
  for (int p = 0; p < kMaxNodes; ++p)
    if (peers_[p].exists && peers_[p].conn == ConnState::kConnected &&
        peers_[p].role == Role::kPrimary)
      m |= 1ull << p;
  return m;
}

bool ResourceImpl::AnyPrimaryPeer() const {
  for (int p = 0; p < kMaxNodes; ++p)
    if (peers_[p].exists && peers_[p].conn == ConnState::kConnected &&
        peers_[p].role == Role::kPrimary)
      return true;
  return false;
}

bool ResourceImpl::HasUpToDateData(int vol) const {
  if (volumes_[vol].disk == DiskState::kUpToDate) return true;
  for (int p = 0; p < kMaxNodes; ++p) {
    const Peer& pr = peers_[p];
    if (pr.exists && pr.conn == ConnState::kConnected && pr.handshake_done &&
        pr.dev[vol].peer_disk == DiskState::kUpToDate)
      return true;
  }
  return false;
}

void ResourceImpl::BroadcastState() {
  State st;
  st.role = static_cast<uint8_t>(role_);
  st.flags = (have_quorum_ ? static_cast<uint32_t>(kStateQuorum) : 0u) |
             (suspended_quorum_ ? static_cast<uint32_t>(kStateSuspended) : 0u);
  bool self_diskless = false;
  for (const NodeConfig& n : cfg_.nodes)
    if (n.id.value() == self_) self_diskless = n.diskless;
  if (self_diskless) st.flags |= kStateDiskless;
  for (const Volume& v : volumes_) st.disks.push_back(static_cast<uint8_t>(v.disk));
  st.connected_mask = ConnectedMask();
  st.primary_mask = PrimaryMask();
  st.dagtag = dagtag_;
  for (int p = 0; p < kMaxNodes; ++p)
    if (peers_[p].exists && peers_[p].transport_up) Send(p, st);
}

// ---------------------------------------------------------------------------
// state setters

void ResourceImpl::SetRole(Role r) {
  if (role_ == r) return;
  role_ = r;
  dirty_ = true;
  EmitEvent(Fmt("change resource name:%s role:%s", cfg_.name.c_str(), RoleName(r)));
}

void ResourceImpl::SetDisk(int vol, DiskState s) {
  Volume& v = volumes_[vol];
  if (v.disk == s) return;
  v.disk = s;
  dirty_ = true;
  EmitEvent(Fmt("change device name:%s volume:%u disk:%s", cfg_.name.c_str(), v.vnr.value(),
                DiskStateName(s)));
  if (s != DiskState::kNegotiating && !v.negotiation_held.empty()) {
    auto held = std::move(v.negotiation_held);
    v.negotiation_held.clear();
    for (uint64_t seq : held) ProceedWrite(seq);
  }
  if (s >= DiskState::kOutdated && !v.rs_paused.empty()) {
    auto paused = std::move(v.rs_paused);
    v.rs_paused.clear();
    for (auto& [peer, m] : paused)
      if (peers_[peer].conn == ConnState::kConnected) ServeResyncRequest(peer, m);
  }
  if (v.attached && s >= DiskState::kInconsistent) {
    uint32_t before = v.sb.flags;
    if (s == DiskState::kInconsistent) {
      v.sb.flags &= ~(kMdConsistent | kMdWasUpToDate);
    } else if (s == DiskState::kOutdated) {
      v.sb.flags = (v.sb.flags | kMdConsistent) & ~kMdWasUpToDate;
    } else if (s == DiskState::kUpToDate) {
      v.sb.flags |= kMdConsistent | kMdWasUpToDate;
    }
    if (before != v.sb.flags) WriteSuperblock(vol, nullptr);
  }
}

void ResourceImpl::SetConn(int peer, ConnState s) {
  Peer& p = peers_[peer];
  if (p.conn == s) return;
  p.conn = s;
  dirty_ = true;
  EmitEvent(Fmt("change connection name:%s peer-node-id:%d conn-name:%s connection:%s",
                cfg_.name.c_str(), peer, p.name.c_str(), ConnStateName(s)));
}

void ResourceImpl::SetPeerRole(int peer, Role r) {
  Peer& p = peers_[peer];
  if (p.role == r) return;
  p.role = r;
  dirty_ = true;
  EmitEvent(Fmt("change connection name:%s peer-node-id:%d conn-name:%s role:%s", cfg_.name.c_str(),
                peer, p.name.c_str(), RoleName(r)));
}

void ResourceImpl::SetRepl(int peer, int vol, ReplState s) {
  PeerDevice& d = peers_[peer].dev[vol];
  if (d.repl == s) return;
  d.repl = s;
  dirty_ = true;
  bool exchanging = s == ReplState::kWFBitMapS || s == ReplState::kWFBitMapT;
  d.wfbitmap_deadline = exchanging ? now_ + kBitmapExchangeTimeout : 0;
  EmitEvent(
      Fmt("change peer-device name:%s peer-node-id:%d conn-name:%s volume:%u "
          "replication:%s",
          cfg_.name.c_str(), peer, peers_[peer].name.c_str(), volumes_[vol].vnr.value(),
          ReplStateName(s)));
}

void ResourceImpl::SetPeerDisk(int peer, int vol, DiskState s) {
  PeerDevice& d = peers_[peer].dev[vol];
  if (d.peer_disk == s) return;
  DiskState old = d.peer_disk;
  d.peer_disk = s;
  dirty_ = true;
  EmitEvent(
      Fmt("change peer-device name:%s peer-node-id:%d conn-name:%s volume:%u "
          "peer-disk:%s",
          cfg_.name.c_str(), peer, peers_[peer].name.c_str(), volumes_[vol].vnr.value(),
          DiskStateName(s)));
  // A Primary that loses access to a peer's data starts a new data generation
  // at its next write (drbd-semantics.md §5.2).
  if (role_ == Role::kPrimary && !peers_[peer].lost_as_primary && old >= DiskState::kInconsistent &&
      old != DiskState::kDUnknown &&
      (s == DiskState::kDUnknown || s < DiskState::kInconsistent || s == DiskState::kOutdated))
    volumes_[vol].new_uuid_pending = true;
}

// The sanitize step of drbd-semantics.md §2.3, applied after every input,
// followed by quorum; repeated until nothing changes.
void ResourceImpl::Sanitize() {
  for (int p = 0; p < kMaxNodes; ++p) {
    Peer& pr = peers_[p];
    if (!pr.exists) continue;
    for (size_t vol = 0; vol < volumes_.size(); ++vol) {
      PeerDevice& d = pr.dev[vol];
      if (pr.conn != ConnState::kConnected) {
        bool was_target = d.repl == ReplState::kSyncTarget;
        if (d.repl != ReplState::kOff) SetRepl(p, static_cast<int>(vol), ReplState::kOff);
        if (was_target) ActivatePausedTarget(static_cast<int>(vol));
        if (d.peer_disk != DiskState::kInconsistent && d.peer_disk != DiskState::kOutdated &&
            d.peer_disk != DiskState::kDUnknown)
          SetPeerDisk(p, static_cast<int>(vol), DiskState::kDUnknown);
      }
      // A resync or verify ends when either disk fails.
      bool syncing = d.repl >= ReplState::kStartingSyncS && d.repl <= ReplState::kPausedSyncT;
      if (syncing &&
          (volumes_[vol].disk <= DiskState::kFailed || d.peer_disk <= DiskState::kFailed)) {
        AbortResync(p, static_cast<int>(vol));
      }
    }
  }
  for (size_t vol = 0; vol < volumes_.size(); ++vol) {
    Volume& v = volumes_[vol];
    if (v.disk == DiskState::kFailed) SetDisk(static_cast<int>(vol), DiskState::kDiskless);
  }
}

void ResourceImpl::AfterInput() {
  // Sanitize and quorum may change more state; repeat until stable, then tell
  // the peers once.
  bool changed = false;
  for (int round = 0; dirty_ && round < 8; ++round) {
    dirty_ = false;
    changed = true;
    Sanitize();
    UpdateQuorum();
    UpdateFarAwayPrimary();
  }
  dirty_ = false;
  if (changed) BroadcastState();
  // These depend on states and on time only: not on every write.
  if (changed || recheck_) {
    recheck_ = false;
    MaybeUpgradeOutdated();
    MaybeRehandshake();
  }
  // Timers: resync/verify steps, 2PC and promotion deadlines.
  Time next = 0;
  auto want = [&](Time t) {
    if (t > now_ && (next == 0 || t < next)) next = t;
  };
  bool stepping = false;
  for (int p = 0; p < kMaxNodes; ++p) {
    if (!peers_[p].exists) continue;
    for (const PeerDevice& d : peers_[p].dev) {
      if (d.repl == ReplState::kSyncTarget || d.repl == ReplState::kVerifyS) stepping = true;
      if (d.wfbitmap_deadline != 0) want(d.wfbitmap_deadline);
    }
  }
  if (stepping) want(next_resync_step_ > now_ ? next_resync_step_ : now_ + 100 * kMs);
  if (twopc_) want(twopc_->deadline);
  for (const LostPeerQuery& q : lost_queries_) want(q.deadline);
  if (promote_) want(promote_->retry_at > now_ ? promote_->retry_at : promote_->deadline);
  if (opts_.ko_count > 0 && !reqs_.empty()) {
    if (next_ko_check_ <= now_) next_ko_check_ = now_ + opts_.timeout;
    want(next_ko_check_);
  }
  if (next != 0) ArmTimerAt(next);
  if (opts_.disk_timeout > 0 && !io_done_.empty()) {
    Time oldest = now_;
    for (const auto& [id, w] : io_done_) oldest = std::min(oldest, w.submitted);
    ArmTimerAt(oldest + opts_.disk_timeout);
  }
}

void ResourceImpl::AdvanceTime(Time now) {
  if (now < now_) return;
  if (armed_ != 0 && armed_ <= now) recheck_ = true;
  now_ = now;
  if (armed_ != 0 && armed_ <= now_) armed_ = 0;
  if (twopc_ && twopc_->deadline <= now_) {
    // A stuck transaction is aborted (twopc-timeout).
    if (twopc_->parent < 0) {
      TwopcFinish(false);
    } else {
      twopc_.reset();
    }
  }
  ExpireLostPeerQueries();
  if (promote_ && !twopc_ && promote_->retry_at != 0 && promote_->retry_at <= now_) {
    promote_->retry_at = 0;
    TryPromote();
  }
  if (promote_ && !twopc_ && promote_->deadline <= now_) TryPromote();
  for (int p = 0; p < kMaxNodes; ++p) {
    Peer& pr = peers_[p];
    if (pr.disconnect_deadline != 0 && pr.disconnect_deadline <= now_) FinishDisconnect(p);
    if (pr.conn == ConnState::kConnected) {
      for (const PeerDevice& d : pr.dev) {
        if (d.wfbitmap_deadline == 0 || d.wfbitmap_deadline > now_) continue;
        EmitEvent(Fmt("bitmap exchange with %s timed out after %llu s: reconnecting",
                      pr.name.c_str(),
                      static_cast<unsigned long long>(kBitmapExchangeTimeout / kSec)));
        DropConn(p, ConnState::kNetworkFailure);
        break;
      }
    }
    if (pr.standalone_drop_at != 0 && pr.standalone_drop_at <= now_) {
      pr.standalone_drop_at = 0;
      if (pr.conn == ConnState::kStandAlone && !pr.want) {
        Emit(WantConnection{pr.id, false});
        if (pr.transport_up) DropConn(p, ConnState::kStandAlone);
      }
    }
  }
  CheckDiskTimeout();
  if (opts_.ko_count > 0 && next_ko_check_ != 0 && next_ko_check_ <= now_) {
    next_ko_check_ = reqs_.empty() ? 0 : now_ + opts_.timeout;
    CheckKoCount();
  }
  if (next_resync_step_ <= now_) {
    next_resync_step_ = now_ + 100 * kMs;
    for (int p = 0; p < kMaxNodes; ++p) {
      if (!peers_[p].exists || peers_[p].conn != ConnState::kConnected) continue;
      for (size_t vol = 0; vol < volumes_.size(); ++vol) {
        if (peers_[p].dev[vol].repl == ReplState::kSyncTarget) ResyncStep(p, static_cast<int>(vol));
        if (peers_[p].dev[vol].repl == ReplState::kVerifyS) VerifyStep(p, static_cast<int>(vol));
      }
    }
  }
  AfterInput();
}

// ---------------------------------------------------------------------------
// admin commands

void ResourceImpl::Attach(uint64_t cookie, VolumeNr vnr, ByteSpan md, uint64_t backing,
                          bool internal) {
  int vol = VolIndex(vnr);
  if (vol < 0) return Done(cookie, SsCode::kInvalidArgument, Fmt("no volume %u", vnr.value()));
  Volume& v = volumes_[vol];
  if (v.attached) return Done(cookie, SsCode::kNothingToDo, "already attached");
  for (const NodeConfig& n : cfg_.nodes)
    if (n.id.value() == self_ && n.diskless)
      return Done(cookie, SsCode::kInvalidArgument, "this node is configured diskless");
  // A Primary that lost its disk goes on with the generation it exposes; a
  // disk of another generation is stale. With an UpToDate peer it attaches
  // and resyncs; with none it would pass stale data for current (DRBD's
  // ERR_DATA_NOT_CURRENT, "Can only attach to data with current UUID").
  const uint64_t exposed = v.sb.current_uuid & ~kUuidPrimaryBit;
  if (auto sb = DecodeSuperblock(md); sb.ok() && role_ == Role::kPrimary && exposed != 0 &&
                                      (sb->current_uuid & ~kUuidPrimaryBit) != exposed &&
                                      !HasUpToDateData(vol)) {
    return Done(cookie, SsCode::kDataNotCurrent,
                Fmt("can only attach to data with current UUID %016llX (the disk holds %016llX "
                    "and no peer is UpToDate)",
                    static_cast<unsigned long long>(exposed),
                    static_cast<unsigned long long>(sb->current_uuid & ~kUuidPrimaryBit)));
  }
  v.backing_bytes = backing;
  v.internal_md = internal;
  std::string why;
  if (!LoadMetadata(vol, md, &why)) return Done(cookie, SsCode::kInvalidArgument, why);
  v.attached = true;
  v.lost_disk = false;
  SetDisk(vol, DiskState::kAttaching);
  // Disk state from the metadata (disk_state_from_md).
  DiskState ds;
  if (v.sb.current_uuid == kUuidJustCreated || !(v.sb.flags & kMdConsistent)) {
    ds = DiskState::kInconsistent;
  } else if (!(v.sb.flags & kMdWasUpToDate)) {
    ds = DiskState::kOutdated;
  } else {
    ds = DiskState::kUpToDate;
  }
  if (v.size_bytes == 0)
    v.size_bytes = std::min<uint64_t>(v.usable_bytes, v.sb.effective_size_sectors * 512);
  if (v.size_bytes == 0) v.size_bytes = v.usable_bytes;
  bool any_connected = false;
  for (int p = 0; p < kMaxNodes; ++p)
    if (peers_[p].exists && peers_[p].conn == ConnState::kConnected) any_connected = true;
  // The AL is re-initialised and the "unclean" state made durable before any
  // write can reach the disk.
  v.sb.flags &= ~kMdAlClean;
  if (role_ == Role::kPrimary) v.sb.flags |= kMdCrashedPrimary | kMdPrimaryInd;
  AlInitRing(vol, [this, vol, ds, any_connected, cookie] {
    WriteSuperblock(vol, [this, vol, ds, any_connected, cookie] {
      if (!volumes_[vol].attached) return Done(cookie, SsCode::kNoLocalDisk, "detached meanwhile");
      bool connected_now = false;
      for (int p = 0; p < kMaxNodes; ++p)
        if (IsDiskfulPeer(p) && peers_[p].conn == ConnState::kConnected && peers_[p].handshake_done)
          connected_now = true;
      (void)any_connected;
      if (connected_now) {
        // Negotiating: the data is not used until a peer agreed on it (§2.4).
        volumes_[vol].md_disk = ds;
        SetDisk(vol, DiskState::kNegotiating);
        for (int p = 0; p < kMaxNodes; ++p) {
          if (!peers_[p].exists || peers_[p].conn != ConnState::kConnected) continue;
          peers_[p].dev[vol].uuids_sent = false;
          SendUuids(p, vol);
        }
      } else {
        SetDisk(vol, ds);
      }
      dirty_ = true;
      Done(cookie, SsCode::kSuccess);
      AfterInput();
    });
  });
  AfterInput();
}

void ResourceImpl::Detach(uint64_t cookie, VolumeNr vnr) {
  int vol = VolIndex(vnr);
  if (vol < 0) return Done(cookie, SsCode::kInvalidArgument, Fmt("no volume %u", vnr.value()));
  Volume& v = volumes_[vol];
  if (!v.attached) return Done(cookie, SsCode::kNothingToDo, "not attached");
  if (role_ == Role::kPrimary) {
    bool peer_ok = false;
    for (int p = 0; p < kMaxNodes; ++p)
      if (peers_[p].exists && peers_[p].conn == ConnState::kConnected &&
          peers_[p].dev[vol].peer_disk == DiskState::kUpToDate)
        peer_ok = true;
    if (!peer_ok)
      return Done(cookie, SsCode::kNoUpToDateDisk, "a Primary needs UpToDate data to detach");
  }
  SetDisk(vol, DiskState::kDetaching);
  v.sb.flags |= kMdAlClean;
  if (role_ != Role::kPrimary) v.sb.flags &= ~kMdCrashedPrimary;
  // The AL is declared clean: every completed write must be durable first.
  FlushData(vol, [this, vol, cookie] {
    WriteDirtyBitmapPages(vol, [this, vol, cookie] {
      WriteSuperblock(vol, [this, vol, cookie] {
        Volume& vv = volumes_[vol];
        vv.attached = false;
        SetDisk(vol, DiskState::kDiskless);
        Done(cookie, SsCode::kSuccess);
        dirty_ = true;
        AfterInput();
      });
    });
  });
  AfterInput();
}

void ResourceImpl::Connect(uint64_t cookie, NodeId peer, bool discard_my_data) {
  if (!ValidPeer(peer))
    return Done(cookie, SsCode::kUnknownPeer, Fmt("no peer with node id %u", peer.value()));
  Peer& p = peers_[peer.value()];
  p.discard_my_data = discard_my_data;
  if (p.want && p.conn >= ConnState::kUnconnected)
    return Done(cookie, SsCode::kNothingToDo, "already connecting");
  p.want = true;
  down_ = false;
  ReopenAfterVerdict(peer.value());
  SetConn(peer.value(), ConnState::kUnconnected);
  SetConn(peer.value(), ConnState::kConnecting);
  Emit(WantConnection{peer, true});
  Done(cookie, SsCode::kSuccess);
  AfterInput();
}

void ResourceImpl::ConnectAll(uint64_t cookie) {
  down_ = false;
  for (int p = 0; p < kMaxNodes; ++p) {
    if (!peers_[p].exists || (peers_[p].want && peers_[p].conn >= ConnState::kUnconnected))
      continue;
    peers_[p].want = true;
    ReopenAfterVerdict(p);
    SetConn(p, ConnState::kUnconnected);
    SetConn(p, ConnState::kConnecting);
    Emit(WantConnection{NodeId(static_cast<uint8_t>(p)), true});
  }
  Done(cookie, SsCode::kSuccess);
  AfterInput();
}

void ResourceImpl::Disconnect(uint64_t cookie, NodeId peer) {
  if (!ValidPeer(peer))
    return Done(cookie, SsCode::kUnknownPeer, Fmt("no peer with node id %u", peer.value()));
  int p = peer.value();
  if (peers_[p].conn == ConnState::kStandAlone) return Done(cookie, SsCode::kAlreadyStandAlone);
  DisconnectImpl(p, [this, cookie] { Done(cookie, SsCode::kSuccess); });
  AfterInput();
}

// Graceful: with quorum on, a Secondary leaving a Primary outdates itself and
// the Primary marks the peer Outdated, so quorum can count it as gone
// (drbd-semantics.md §7.3, "last man standing"). The connection closes when
// the peer acknowledged the notice (or after ping-timeout x 2).
void ResourceImpl::DisconnectImpl(int p, std::function<void()> done) {
  Peer& pr = peers_[p];
  pr.disconnect_done.push_back(std::move(done));
  if (pr.disconnect_done.size() > 1) return;  // already on its way
  if (pr.conn == ConnState::kConnected && pr.handshake_done && opts_.quorum != kQuorumOff) {
    TwopcPrepare notice;
    notice.tid = 0;
    notice.initiator = static_cast<uint8_t>(self_);
    notice.kind = static_cast<uint8_t>(TwopcKind::kDisconnect);
    notice.target = static_cast<uint8_t>(p);
    Send(p, notice);
    for (size_t vol = 0; vol < volumes_.size(); ++vol) {
      if (role_ == Role::kSecondary && peers_[p].role == Role::kPrimary &&
          volumes_[vol].disk == DiskState::kUpToDate)
        SetDisk(static_cast<int>(vol), DiskState::kOutdated);
      if (role_ == Role::kPrimary && volumes_[vol].attached) {
        volumes_[vol].sb.peers[p].flags |= kMdPeerOutdated;
        WriteSuperblock(static_cast<int>(vol), nullptr);
      }
      if (role_ == Role::kPrimary) SetPeerDisk(p, static_cast<int>(vol), DiskState::kOutdated);
    }
    pr.want = false;
    pr.disconnect_deadline = now_ + 2 * opts_.ping_timeout;
    ArmTimerAt(pr.disconnect_deadline);
    return;
  }
  FinishDisconnect(p);
}

void ResourceImpl::FinishDisconnect(int p) {
  Peer& pr = peers_[p];
  pr.disconnect_deadline = 0;
  GoStandAlone(p);
  auto done = std::move(pr.disconnect_done);
  pr.disconnect_done.clear();
  for (auto& f : done) f();
}

void ResourceImpl::Down(uint64_t cookie) {
  if (writers_ > 0) return Done(cookie, SsCode::kDeviceInUse, "the device is open for writing");
  if (role_ == Role::kPrimary) DoDemote();
  down_ = true;
  // First leave every peer gracefully (they record us as Outdated), then
  // detach: a detach first would tell them our disk vanished.
  auto peers_left = std::make_shared<int>(1);
  auto after_disconnect = [this, cookie, peers_left] {
    if (--*peers_left > 0) return;
    DetachAllForDown(cookie);
  };
  for (int p = 0; p < kMaxNodes; ++p) {
    if (!peers_[p].exists || peers_[p].conn == ConnState::kStandAlone) continue;
    ++*peers_left;
    DisconnectImpl(p, after_disconnect);
  }
  after_disconnect();
  AfterInput();
}

void ResourceImpl::DetachAllForDown(uint64_t cookie) {
  int pending = 0;
  for (const Volume& v : volumes_) pending += v.attached ? 1 : 0;
  if (pending == 0) return Done(cookie, SsCode::kSuccess);
  auto left = std::make_shared<int>(pending);
  for (size_t vol = 0; vol < volumes_.size(); ++vol) {
    if (!volumes_[vol].attached) continue;
    Volume& v = volumes_[vol];
    SetDisk(static_cast<int>(vol), DiskState::kDetaching);
    v.sb.flags |= kMdAlClean;
    v.sb.flags &= ~(kMdCrashedPrimary | kMdPrimaryInd);
    int vi = static_cast<int>(vol);
    FlushData(vi, [this, vi, cookie, left] {
      WriteDirtyBitmapPages(vi, [this, vi, cookie, left] {
        WriteSuperblock(vi, [this, vi, cookie, left] {
          volumes_[vi].attached = false;
          SetDisk(vi, DiskState::kDiskless);
          if (--*left == 0) Done(cookie, SsCode::kSuccess);
          AfterInput();
        });
      });
    });
  }
  AfterInput();
}

void ResourceImpl::NewCurrentUuid(uint64_t cookie, VolumeNr vnr, bool clear_bitmap) {
  int vol = VolIndex(vnr);
  if (vol < 0) return Done(cookie, SsCode::kInvalidArgument, Fmt("no volume %u", vnr.value()));
  Volume& v = volumes_[vol];
  if (!v.attached) return Done(cookie, SsCode::kNoLocalDisk);
  if (clear_bitmap) {
    // Skip the initial sync: only on fresh metadata, with every peer connected
    // and fresh too (drbd-semantics.md §10.2).
    if (v.sb.current_uuid != kUuidJustCreated)
      return Done(cookie, SsCode::kInvalidArgument, "--clear-bitmap needs just-created metadata");
    for (int p = 0; p < kMaxNodes; ++p) {
      if (!IsDiskfulPeer(p)) continue;
      if (peers_[p].conn != ConnState::kConnected || !peers_[p].handshake_done)
        return Done(
            cookie, SsCode::kNotConnected,
            Fmt("--clear-bitmap needs every peer connected; %s is not", peers_[p].name.c_str()));
    }
    v.sb.current_uuid = (env_->Random64() & ~3ull) | 8;
    for (Bitmap& b : v.bitmaps) b.ClearAll();
    for (int p = 0; p < kMaxNodes; ++p) v.sb.peers[p].bitmap_uuid = 0;
    SetDisk(vol, DiskState::kUpToDate);
    WriteSuperblock(vol, nullptr);
    for (int p = 0; p < kMaxNodes; ++p) {
      if (!peers_[p].exists || peers_[p].conn != ConnState::kConnected) continue;
      Uuids u;
      u.vnr = v.vnr.value();
      u.current = v.sb.current_uuid;
      u.flags = kUuidFlagNewDatagen | kUuidFlagSkipInitialSync;
      u.disk = static_cast<uint8_t>(DiskState::kUpToDate);
      u.bitmap_uuids.assign(kMaxNodes, 0);
      Send(p, u);
      if (IsDiskfulPeer(p)) SetPeerDisk(p, vol, DiskState::kUpToDate);
    }
  } else {
    NewCurrentUuidNow(vol);
  }
  Done(cookie, SsCode::kSuccess);
  AfterInput();
}

void ResourceImpl::Invalidate(uint64_t cookie, VolumeNr vnr) {
  int vol = VolIndex(vnr);
  if (vol < 0) return Done(cookie, SsCode::kInvalidArgument, Fmt("no volume %u", vnr.value()));
  if (!volumes_[vol].attached) return Done(cookie, SsCode::kNoLocalDisk);
  if (role_ == Role::kPrimary)
    return Done(cookie, SsCode::kDeviceInUse, "cannot invalidate a Primary");
  for (int p = 0; p < kMaxNodes; ++p) {
    if (!peers_[p].exists || peers_[p].conn != ConnState::kConnected) continue;
    PeerDevice& d = peers_[p].dev[vol];
    if (d.peer_disk == DiskState::kUpToDate && d.repl == ReplState::kEstablished) {
      int slot = SlotOf(volumes_[vol], p);
      if (slot < 0) continue;
      Volume& v = volumes_[vol];
      v.MarkAllOutOfSync(slot);
      MarkPageDirty(vol, slot, 0, v.bitmaps[slot].size());
      SetDisk(vol, DiskState::kInconsistent);
      SetRepl(p, vol, ReplState::kWFBitMapT);
      Send(p, MakeBitmapMsg(p, vol, 2));
      Done(cookie, SsCode::kSuccess);
      AfterInput();
      return;
    }
  }
  Done(cookie, SsCode::kNoUpToDateDisk, "no connected UpToDate peer to sync from");
}

void ResourceImpl::InvalidateRemote(uint64_t cookie, NodeId peer, VolumeNr vnr) {
  int vol = VolIndex(vnr);
  if (vol < 0) return Done(cookie, SsCode::kInvalidArgument, Fmt("no volume %u", vnr.value()));
  if (!ValidPeer(peer)) return Done(cookie, SsCode::kUnknownPeer);
  int p = peer.value();
  if (peers_[p].conn != ConnState::kConnected || peers_[p].dev[vol].repl != ReplState::kEstablished)
    return Done(cookie, SsCode::kNotConnected);
  if (volumes_[vol].disk != DiskState::kUpToDate) return Done(cookie, SsCode::kNoUpToDateDisk);
  int slot = SlotOf(volumes_[vol], p);
  if (slot < 0) return Done(cookie, SsCode::kNoRemoteDisk);
  volumes_[vol].MarkAllOutOfSync(slot);
  MarkPageDirty(vol, slot, 0, volumes_[vol].bitmaps[slot].size());
  StartBitmapExchange(p, vol, BitmapPrep::kUse, -1, true);
  Done(cookie, SsCode::kSuccess);
  AfterInput();
}

void ResourceImpl::Verify(uint64_t cookie, NodeId peer, VolumeNr vnr) {
  int vol = VolIndex(vnr);
  if (vol < 0) return Done(cookie, SsCode::kInvalidArgument, Fmt("no volume %u", vnr.value()));
  if (!opts_.verify_alg) return Done(cookie, SsCode::kNoVerifyAlg);
  if (!ValidPeer(peer)) return Done(cookie, SsCode::kUnknownPeer);
  int p = peer.value();
  PeerDevice& d = peers_[p].dev[vol];
  if (peers_[p].conn != ConnState::kConnected || d.repl != ReplState::kEstablished)
    return Done(cookie, SsCode::kNotConnected);
  if (volumes_[vol].disk != DiskState::kUpToDate || d.peer_disk != DiskState::kUpToDate)
    return Done(cookie, SsCode::kNoUpToDateDisk, "verify needs both disks UpToDate");
  d.ov_cursor = 0;
  d.ov_in_flight = 0;
  d.ov_out_of_sync = 0;
  d.ov_end = volumes_[vol].size_bytes / kBlockBytes;
  SetRepl(p, vol, ReplState::kVerifyS);
  Done(cookie, SsCode::kSuccess);
  AfterInput();
}

void ResourceImpl::Resize(uint64_t cookie, VolumeNr vnr, uint64_t new_bytes) {
  int vol = VolIndex(vnr);
  if (vol < 0) return Done(cookie, SsCode::kInvalidArgument, Fmt("no volume %u", vnr.value()));
  Volume& v = volumes_[vol];
  uint64_t limit = v.attached ? v.usable_bytes : UINT64_MAX;
  // What the peers said they allow; an explicit size is left to their votes
  // (a peer that just grew may not have told us yet).
  uint64_t peers_limit = UINT64_MAX;
  for (int p = 0; p < kMaxNodes; ++p) {
    if (!IsDiskfulPeer(p)) continue;
    const PeerDevice& d = peers_[p].dev[vol];
    if (peers_[p].conn != ConnState::kConnected)
      return Done(
          cookie, SsCode::kNotConnected,
          Fmt("resize needs every diskful peer connected; %s is not", peers_[p].name.c_str()));
    if (d.repl != ReplState::kEstablished) return Done(cookie, SsCode::kResizeResync);
    peers_limit = std::min(peers_limit, d.peer_max_bytes);
  }
  if (new_bytes == 0) {
    limit = std::min(limit, peers_limit);
    new_bytes = limit;
  }
  new_bytes &= ~(kBlockBytes - 1);
  if (new_bytes > limit)
    return Done(
        cookie, SsCode::kInvalidArgument,
        Fmt("requested %llu bytes, this node's backing allows %llu",
            static_cast<unsigned long long>(new_bytes), static_cast<unsigned long long>(limit)));
  if (new_bytes < v.size_bytes) return Done(cookie, SsCode::kShrink);
  if (new_bytes == v.size_bytes) return Done(cookie, SsCode::kNothingToDo);
  if (twopc_) return Done(cookie, SsCode::kConcurrentStChg);
  twopc_cookies_.push_back(cookie);
  StartTwopc(TwopcKind::kResize, static_cast<uint8_t>(vol), new_bytes);
  AfterInput();
}

void ResourceImpl::SetOptions(uint64_t cookie, const Options& options) {
  std::string err = options.Validate();
  if (!err.empty()) return Done(cookie, SsCode::kInvalidArgument, err);
  if (!options.allow_two_primaries && opts_.allow_two_primaries && role_ == Role::kPrimary &&
      AnyPrimaryPeer())
    return Done(cookie, SsCode::kInvalidArgument,
                "cannot forbid two primaries while two are Primary");
  bool quorum_changed =
      options.quorum != opts_.quorum || options.on_no_quorum != opts_.on_no_quorum;
  opts_ = options;
  if (quorum_changed) dirty_ = true;
  // on-no-quorum switched to io-error releases suspended I/O with EIO (§7.4).
  if (suspended_quorum_ && opts_.on_no_quorum == OnNoQuorum::kIoError) FailIoNoQuorum();
  Done(cookie, SsCode::kSuccess);
  AfterInput();
}

// Membership change (docs/architecture.md, "Membership changes"). Checked in
// full before anything changes, so a refusal changes nothing.
void ResourceImpl::Reconfigure(uint64_t cookie, const std::vector<NodeConfig>& nodes) {
  uint64_t listed = 0;
  const NodeConfig* me = nullptr;
  for (const NodeConfig& n : nodes) {
    if (n.id.value() >= kMaxNodes)
      return Done(cookie, SsCode::kInvalidArgument, Fmt("node id %u out of range", n.id.value()));
    if (listed & (1ull << n.id.value()))
      return Done(cookie, SsCode::kInvalidArgument, Fmt("node id %u listed twice", n.id.value()));
    listed |= 1ull << n.id.value();
    if (n.id.value() == self_) me = &n;
  }
  if (!me)
    return Done(cookie, SsCode::kInvalidArgument,
                Fmt("this node (id %d) is not in the new node set", self_));
  for (const NodeConfig& n : cfg_.nodes) {
    if (n.id.value() == self_ && n.diskless != me->diskless)
      return Done(cookie, SsCode::kNotSupported,
                  "this node's own disk changed: this needs down and up");
  }
  for (int p = 0; p < kMaxNodes; ++p) {
    if (p != self_ && peers_[p].exists && !(listed & (1ull << p))) ForgetPeer(p);
  }
  // A node id given to another node (the old one left, a new one got its id):
  // nothing the old node's slot says is true of the new one.
  for (const NodeConfig& n : nodes) {
    int p = n.id.value();
    if (p != self_ && peers_[p].exists && peers_[p].name != n.name) ForgetPeer(p);
  }
  for (const NodeConfig& n : nodes) {
    int p = n.id.value();
    if (p == self_) continue;
    Peer& pr = peers_[p];
    if (!pr.exists) {
      pr.exists = true;
      pr.name = n.name;
      pr.diskless = n.diskless;
      pr.dev.assign(volumes_.size(), PeerDevice{});
      pr.conn = ConnState::kStandAlone;
      EmitEvent(Fmt("create connection name:%s peer-node-id:%d conn-name:%s conn:StandAlone",
                    cfg_.name.c_str(), p, n.name.c_str()));
      dirty_ = true;
      continue;
    }
    pr.name = n.name;
    if (pr.diskless != n.diskless) {
      pr.diskless = n.diskless;
      dirty_ = true;
      // The handshake decides what the peer's disk means: run it again.
      if (pr.transport_up) DropConn(p, ConnState::kNetworkFailure);
    }
  }
  cfg_.nodes = nodes;
  Done(cookie, SsCode::kSuccess);
  AfterInput();
}

// The peer leaves the resource: its connection closes (writes waiting for it
// complete without it, as on a connection loss) and its bitmap slots are
// freed for the next node to join (DRBD's forget-peer).
void ResourceImpl::ForgetPeer(int p) {
  Peer& pr = peers_[p];
  GoStandAlone(p);
  for (size_t vol = 0; vol < volumes_.size(); ++vol) {
    Volume& v = volumes_[vol];
    if (!v.attached || v.sb.peers[p] == MdPeerSlot{}) continue;
    v.sb.peers[p] = MdPeerSlot{};
    WriteSuperblock(static_cast<int>(vol), nullptr);
  }
  EmitEvent(Fmt("destroy connection name:%s peer-node-id:%d conn-name:%s", cfg_.name.c_str(), p,
                pr.name.c_str()));
  uint32_t gen = pr.conn_gen + 1;
  pr = Peer{};
  pr.id = NodeId(static_cast<uint8_t>(p));
  pr.conn_gen = gen;
  dirty_ = true;
}

void ResourceImpl::OnDiskComplete(uint64_t io_id, bool ok, SharedBytes data) {
  auto it = io_done_.find(io_id);
  if (it == io_done_.end()) return;
  auto fn = std::move(it->second.done);
  io_done_.erase(it);
  fn(ok, std::move(data));
  AfterInput();
}

// ---------------------------------------------------------------------------
// status

ResourceStatus ResourceImpl::GetStatus() const {
  ResourceStatus s;
  s.name = cfg_.name;
  s.self = cfg_.self;
  s.role = role_;
  s.suspended = suspended_quorum_;
  s.quorum = have_quorum_;
  std::string why;
  s.may_promote = role_ != Role::kPrimary && CheckPromote(false, &why) == SsCode::kSuccess;
  for (const Volume& v : volumes_) {
    VolumeStatus vs;
    vs.vnr = v.vnr;
    vs.disk = v.disk;
    vs.size_bytes = v.size_bytes;
    vs.quorum = have_quorum_;
    vs.current_uuid = v.sb.current_uuid;
    s.volumes.push_back(vs);
  }
  for (int p = 0; p < kMaxNodes; ++p) {
    const Peer& pr = peers_[p];
    if (!pr.exists) continue;
    ConnectionStatus cs;
    cs.peer = pr.id;
    cs.name = pr.name;
    cs.conn = pr.conn;
    cs.peer_role = pr.conn == ConnState::kConnected ? pr.role : Role::kUnknown;
    for (size_t vol = 0; vol < volumes_.size(); ++vol) {
      const PeerDevice& d = pr.dev[vol];
      PeerDeviceStatus ps;
      ps.vnr = volumes_[vol].vnr;
      ps.repl = d.repl;
      ps.peer_disk = d.peer_disk;
      int slot = SlotOf(volumes_[vol], p);
      if (slot >= 0 && static_cast<size_t>(slot) < volumes_[vol].bitmaps.size())
        ps.out_of_sync_bytes = volumes_[vol].bitmaps[slot].Count() * kBlockBytes;
      ps.resync_total_bytes = d.rs_total * kBlockBytes;
      ps.resynced_bytes = d.rs_done * kBlockBytes;
      if (d.repl == ReplState::kSyncTarget || d.repl == ReplState::kSyncSource ||
          d.repl == ReplState::kPausedSyncT || d.repl == ReplState::kPausedSyncS) {
        uint64_t total = d.rs_total ? d.rs_total : 1;
        uint64_t left = ps.out_of_sync_bytes / kBlockBytes;
        ps.done_percent =
            100.0 * (1.0 - static_cast<double>(std::min(left, total)) / static_cast<double>(total));
      }
      cs.volumes.push_back(ps);
    }
    s.connections.push_back(cs);
  }
  return s;
}

// ---------------------------------------------------------------------------
// Resource: the public face forwards to the impl.

Resource::Resource(ResourceConfig config, Env* env)
    : impl_(std::make_unique<ResourceImpl>(std::move(config), env)) {}
Resource::~Resource() = default;
void Resource::TakeActions(std::vector<Action>* out) { impl_->TakeActions(out); }
void Resource::AdvanceTime(Time now) { impl_->AdvanceTime(now); }
void Resource::Attach(uint64_t c, VolumeNr v, ByteSpan md, uint64_t b, bool i) {
  impl_->Attach(c, v, md, b, i);
}
void Resource::Detach(uint64_t c, VolumeNr v) { impl_->Detach(c, v); }
void Resource::Connect(uint64_t c, NodeId p, bool d) { impl_->Connect(c, p, d); }
void Resource::ConnectAll(uint64_t c) { impl_->ConnectAll(c); }
void Resource::Disconnect(uint64_t c, NodeId p) { impl_->Disconnect(c, p); }
void Resource::Down(uint64_t c) { impl_->Down(c); }
void Resource::Primary(uint64_t c, bool f) { impl_->Primary(c, f); }
void Resource::Secondary(uint64_t c, bool f) { impl_->Secondary(c, f); }
void Resource::NewCurrentUuid(uint64_t c, VolumeNr v, bool cb) { impl_->NewCurrentUuid(c, v, cb); }
void Resource::Invalidate(uint64_t c, VolumeNr v) { impl_->Invalidate(c, v); }
void Resource::InvalidateRemote(uint64_t c, NodeId p, VolumeNr v) {
  impl_->InvalidateRemote(c, p, v);
}
void Resource::Verify(uint64_t c, NodeId p, VolumeNr v) { impl_->Verify(c, p, v); }
void Resource::Resize(uint64_t c, VolumeNr v, uint64_t n) { impl_->Resize(c, v, n); }
void Resource::Grow(uint64_t c, VolumeNr v, uint64_t n) { impl_->Grow(c, v, n); }
void Resource::SetOptions(uint64_t c, const Options& o) { impl_->SetOptions(c, o); }
void Resource::Reconfigure(uint64_t c, const std::vector<NodeConfig>& n) {
  impl_->Reconfigure(c, n);
}
void Resource::OpenForWrite(uint64_t c) { impl_->OpenForWrite(c); }
void Resource::CloseWriter() { impl_->CloseWriter(); }
void Resource::Submit(const AppRequest& r) { impl_->Submit(r); }
void Resource::OnTransportUp(NodeId p) { impl_->OnTransportUp(p); }
void Resource::OnTransportDown(NodeId p) { impl_->OnTransportDown(p); }
void Resource::OnMessage(NodeId p, Message m) { impl_->OnMessage(p, std::move(m)); }
void Resource::OnDiskComplete(uint64_t id, bool ok, SharedBytes d) {
  impl_->OnDiskComplete(id, ok, std::move(d));
}
ResourceStatus Resource::GetStatus() const { return impl_->GetStatus(); }
const ResourceConfig& Resource::config() const { return impl_->config(); }

const char* IoStatusName(IoStatus s) {
  switch (s) {
    case IoStatus::kOk:
      return "ok";
    case IoStatus::kIoError:
      return "EIO";
    case IoStatus::kNotPrimary:
      return "EROFS";
    case IoStatus::kNoData:
      return "ENODATA";
    case IoStatus::kInvalid:
      return "EINVAL";
  }
  return "?";
}

}  // namespace tandem::engine
