// Connections: the handshake and the per-volume sync decision, losing a
// connection, the cluster-wide two-phase commit (promote, resize), roles and
// auto-promote, quorum and the far-away-Primary rule (drbd-semantics.md §1,
// §2, §5.4, §7).
#include <algorithm>
#include <bit>
#include <cstdio>

#include "common/check.h"
#include "engine/internal/resource_impl.h"
#include "engine/quorum.h"

namespace tandem::engine {

namespace {
// Uuids flag: this Uuids message belongs to a handshake round and asks the
// receiver to answer with its own (both then decide from the same pair).
constexpr uint32_t kUuidFlagHandshake = 1u << 14;

}  // namespace

// --- dispatch ----------------------------------------------------------------

void ResourceImpl::OnMessage(NodeId from, Message msg) {
  if (!ValidPeer(from)) return;
  int p = from.value();
  Peer& pr = peers_[p];
  if (!pr.transport_up || pr.conn == ConnState::kStandAlone) return;
  pr.last_rx = now_;
  // Control-plane messages may change what the periodic checks see; the
  // data path (writes, acks, resync traffic) does not.
  switch (TypeOf(msg)) {
    case MsgType::kData:
    case MsgType::kBarrier:
    case MsgType::kBarrierAck:
    case MsgType::kWriteAck:
    case MsgType::kPeerAck:
    case MsgType::kResyncRequest:
    case MsgType::kResyncReply:
    case MsgType::kResyncAck:
    case MsgType::kReadRequest:
    case MsgType::kReadReply:
      break;
    default:
      recheck_ = true;
  }
  std::visit(
      [&](auto&& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Params>)
          OnParams(p, m);
        else if constexpr (std::is_same_v<T, Sizes>)
          OnSizes(p, m);
        else if constexpr (std::is_same_v<T, Uuids>)
          OnUuids(p, m);
        else if constexpr (std::is_same_v<T, State>)
          OnState(p, m);
        else if constexpr (std::is_same_v<T, TwopcPrepare>)
          OnTwopcPrepare(p, m);
        else if constexpr (std::is_same_v<T, TwopcReply>)
          OnTwopcReply(p, m);
        else if constexpr (std::is_same_v<T, TwopcCommit>)
          OnTwopcCommit(p, m);
        else if constexpr (std::is_same_v<T, TwopcAbort>)
          OnTwopcAbort(p, m);
        else if constexpr (std::is_same_v<T, Data>)
          OnPeerData(p, std::move(m));
        else if constexpr (std::is_same_v<T, Barrier>)
          OnBarrier(p, m);
        else if constexpr (std::is_same_v<T, BarrierAck>)
          OnBarrierAck(p, m);
        else if constexpr (std::is_same_v<T, WriteAck>)
          OnWriteAck(p, m);
        else if constexpr (std::is_same_v<T, OutOfSync>) {
          int vol = VolIndex(VolumeNr(m.vnr));
          if (vol >= 0) {
            // The source wrote these blocks after it may have read them for
            // a resync reply still on its way: that reply is stale and must
            // not clear them (§8.3).
            peers_[p].dev[vol].SupersedeRequested(m.offset, m.length);
            MarkOutOfSync(vol, p, m.offset, m.length);
          }
        } else if constexpr (std::is_same_v<T, ReadRequest>)
          OnReadRequest(p, m);
        else if constexpr (std::is_same_v<T, ReadReply>)
          OnReadReply(p, m);
        else if constexpr (std::is_same_v<T, BitmapMsg>)
          OnBitmap(p, m);
        else if constexpr (std::is_same_v<T, ResyncRequest>)
          OnResyncRequest(p, m);
        else if constexpr (std::is_same_v<T, ResyncReply>)
          OnResyncReply(p, m);
        else if constexpr (std::is_same_v<T, ResyncAck>)
          OnResyncAck(p, m);
        else if constexpr (std::is_same_v<T, VerifyRequest>)
          OnVerifyRequest(p, m);
        else if constexpr (std::is_same_v<T, VerifyReply>)
          OnVerifyReply(p, m);
        else if constexpr (std::is_same_v<T, VerifyResult>)
          OnVerifyResult(p, m);
        else if constexpr (std::is_same_v<T, CurrentUuid>) {
          int vol = VolIndex(VolumeNr(m.vnr));
          if (vol >= 0 && volumes_[vol].attached) AdoptPeerUuid(vol, m.uuid, p);
        } else if constexpr (std::is_same_v<T, PeerAck>)
          OnPeerAck(p, m);
        else if constexpr (std::is_same_v<T, Ping>)
          Send(p, PingAck{});
        // Hello, AuthResponse and PingAck belong to the transport.
      },
      msg);
  AfterInput();
}

// --- handshake -------------------------------------------------------------------

void ResourceImpl::OnTransportUp(NodeId id) {
  if (!ValidPeer(id)) return;
  int p = id.value();
  Peer& pr = peers_[p];
  if (!pr.want || pr.transport_up) {
    if (!pr.want) Emit(DropConnection{id});
    return;
  }
  pr.transport_up = true;
  pr.last_dagtag = pr.rx_dagtag = 0;
  pr.got_params = pr.got_state = pr.handshake_done = false;
  pr.last_epoch_sent = pr.last_barrier_acked = 0;
  pr.last_rx = now_;
  for (PeerDevice& d : pr.dev) {
    d.got_uuids = d.got_sizes = d.uuids_sent = false;
  }
  ++handshaking_;
  SetConn(p, ConnState::kConnecting);
  StartHandshake(p);
  AfterInput();
}

void ResourceImpl::StartHandshake(int p) {
  Params m;
  m.protocol = static_cast<uint8_t>(opts_.protocol);
  m.after_sb_0pri = static_cast<uint8_t>(opts_.after_sb_0pri);
  m.after_sb_1pri = static_cast<uint8_t>(opts_.after_sb_1pri);
  m.after_sb_2pri = static_cast<uint8_t>(opts_.after_sb_2pri);
  m.allow_two_primaries = opts_.allow_two_primaries ? 1 : 0;
  m.discard_my_data = peers_[p].discard_my_data ? 1 : 0;
  Send(p, m);
  for (size_t vol = 0; vol < volumes_.size(); ++vol) {
    SendSizes(p, static_cast<int>(vol));
    SendUuids(p, static_cast<int>(vol));
  }
  State st;
  st.role = static_cast<uint8_t>(role_);
  st.flags = have_quorum_ ? static_cast<uint32_t>(kStateQuorum) : 0u;
  for (const NodeConfig& n : cfg_.nodes)
    if (n.id.value() == self_ && n.diskless) st.flags |= kStateDiskless;
  for (const Volume& v : volumes_) st.disks.push_back(static_cast<uint8_t>(v.disk));
  st.connected_mask = ConnectedMask();
  st.primary_mask = PrimaryMask();
  st.dagtag = dagtag_;
  Send(p, st);
}

UuidSide ResourceImpl::MyUuidSide(int p, int vol) const {
  const Volume& v = volumes_[vol];
  const Peer& pr = peers_[p];
  UuidSide u;
  u.node_id = NodeId(static_cast<uint8_t>(self_));
  u.current = v.attached ? v.sb.current_uuid : 0;
  for (int i = 0; i < kMaxNodes; ++i)
    u.bitmap_uuids[i] = v.attached ? v.sb.peers[i].bitmap_uuid : 0;
  for (uint64_t h : v.sb.history)
    if (h) u.history.push_back(h);
  if (pr.discard_my_data) u.flags |= kUuidFlagDiscardMyData;
  if (v.attached && (v.sb.flags & kMdCrashedPrimary) && role_ != Role::kPrimary)
    u.flags |= kUuidFlagCrashedPrimary;
  if (pr.reconnect) u.flags |= kUuidFlagReconnect;
  if (v.attached && (v.sb.flags & kMdPrimaryLostQuorum)) u.flags |= kUuidFlagPrimaryLostQuorum;
  if (IsSyncTarget(vol)) u.flags |= kUuidFlagSyncTarget;
  if (v.attached && v.unclean) u.flags |= kUuidFlagUncleanRestart;
  u.primary = role_ == Role::kPrimary;
  u.disk = !v.attached                         ? DiskState::kDiskless
           : v.disk == DiskState::kNegotiating ? v.md_disk
                                               : v.disk;
  // A Primary re-attaching a disk served from its peers meanwhile: that disk
  // is not what the application saw, so it is at best Consistent.
  if (v.attached && v.disk == DiskState::kNegotiating && role_ == Role::kPrimary &&
      u.disk == DiskState::kUpToDate)
    u.disk = DiskState::kConsistent;
  int slot = SlotOf(v, p);
  u.dirty_bits = (v.attached && slot >= 0 && static_cast<size_t>(slot) < v.bitmaps.size())
                     ? v.bitmaps[slot].Count()
                     : 0;
  u.has_quorum = have_quorum_;
  for (int i = 0; i < kMaxNodes; ++i)
    if (i != self_) u.dagtags[i] = peers_[i].rx_dagtag;
  return u;
}

void ResourceImpl::SendUuids(int p, int vol) {
  PeerDevice& d = peers_[p].dev[vol];
  d.sent_uuids = MyUuidSide(p, vol);
  d.uuids_sent = true;
  d.last_rehandshake = now_;
  Uuids m;
  m.vnr = volumes_[vol].vnr.value();
  m.current = d.sent_uuids.current;
  m.bitmap_uuids.assign(d.sent_uuids.bitmap_uuids.begin(), d.sent_uuids.bitmap_uuids.end());
  m.history = d.sent_uuids.history;
  m.dirty_bits = d.sent_uuids.dirty_bits;
  m.flags = d.sent_uuids.flags | kUuidFlagHandshake;
  m.disk = static_cast<uint8_t>(d.sent_uuids.disk);
  m.dagtags.assign(d.sent_uuids.dagtags.begin(), d.sent_uuids.dagtags.end());
  Send(p, m);
}

void ResourceImpl::OnParams(int p, const Params& m) {
  std::string bad;
  if (m.protocol != static_cast<uint8_t>(opts_.protocol))
    bad = "protocol";
  else if (m.after_sb_0pri != static_cast<uint8_t>(opts_.after_sb_0pri))
    bad = "after-sb-0pri";
  else if (m.after_sb_1pri != static_cast<uint8_t>(opts_.after_sb_1pri))
    bad = "after-sb-1pri";
  else if (m.after_sb_2pri != static_cast<uint8_t>(opts_.after_sb_2pri))
    bad = "after-sb-2pri";
  else if ((m.allow_two_primaries != 0) != opts_.allow_two_primaries)
    bad = "allow-two-primaries";
  else if (m.discard_my_data && peers_[p].discard_my_data)
    bad = "discard-my-data on both sides";
  if (!bad.empty()) {
    EmitEvent(
        Fmt("incompatible %s with %s: dropping connection", bad.c_str(), peers_[p].name.c_str()));
    GoStandAlone(p);
    return;
  }
  peers_[p].got_params = true;
  MaybeFinishHandshake(p);
}

void ResourceImpl::OnSizes(int p, const Sizes& m) {
  int vol = VolIndex(VolumeNr(m.vnr));
  if (vol < 0) return;
  PeerDevice& d = peers_[p].dev[vol];
  d.peer_max_bytes = m.max_bytes;
  d.peer_current_bytes = m.current_bytes;
  d.got_sizes = true;
  AdoptAgreedSize(vol, m.current_bytes);
}

// The exposed size follows a larger agreed size when our backing allows it (a
// resize committed while we were away, or before our own grow).
void ResourceImpl::AdoptAgreedSize(int vol, uint64_t bytes) {
  Volume& v = volumes_[vol];
  if (bytes <= v.size_bytes || (v.attached && bytes > v.usable_bytes)) return;
  v.size_bytes = bytes;
  EmitEvent(Fmt("change device name:%s volume:%u size:%llu", cfg_.name.c_str(), v.vnr.value(),
                static_cast<unsigned long long>(v.size_bytes)));
  if (v.attached) {
    v.sb.effective_size_sectors = v.size_bytes / kSectorSize;
    WriteSuperblock(vol, nullptr);
  }
}

void ResourceImpl::SendSizes(int p, int vol) {
  const Volume& v = volumes_[vol];
  Sizes s;
  s.vnr = v.vnr.value();
  s.max_bytes = v.attached ? v.usable_bytes : 0;
  s.current_bytes = v.size_bytes;
  Send(p, s);
}

void ResourceImpl::OnUuids(int p, const Uuids& m) {
  int vol = VolIndex(VolumeNr(m.vnr));
  if (vol < 0) return;
  Peer& pr = peers_[p];
  PeerDevice& d = pr.dev[vol];
  UuidSide u;
  u.node_id = NodeId(static_cast<uint8_t>(p));
  u.current = m.current;
  for (size_t i = 0; i < m.bitmap_uuids.size() && i < kMaxNodes; ++i)
    u.bitmap_uuids[i] = m.bitmap_uuids[i];
  u.history = m.history;
  u.flags = m.flags & ~kUuidFlagHandshake;
  u.disk = static_cast<DiskState>(m.disk);
  u.dirty_bits = m.dirty_bits;
  for (size_t i = 0; i < m.dagtags.size() && i < kMaxNodes; ++i) u.dagtags[i] = m.dagtags[i];
  u.primary = pr.role == Role::kPrimary;
  u.has_quorum = (pr.state_flags & kStateQuorum) != 0;
  if (!(m.flags & kUuidFlagHandshake)) {
    // Informational: a new data generation or the end of a resync.
    d.peer_uuids.current = u.current;
    d.peer_uuids.bitmap_uuids = u.bitmap_uuids;
    d.peer_uuids.history = u.history;
    Volume& v = volumes_[vol];
    if ((m.flags & kUuidFlagSkipInitialSync) && v.attached &&
        v.sb.current_uuid == kUuidJustCreated) {
      v.sb.current_uuid = m.current;
      for (Bitmap& b : v.bitmaps) b.ClearAll();
      SetDisk(vol, DiskState::kUpToDate);
      WriteSuperblock(vol, nullptr);
      for (int q = 0; q < kMaxNodes; ++q)
        if (IsDiskfulPeer(q) && peers_[q].conn == ConnState::kConnected &&
            peers_[q].handshake_done && peers_[q].dev[vol].peer_disk == DiskState::kInconsistent &&
            q == p)
          SetPeerDisk(q, vol, DiskState::kUpToDate);
      return;
    }
    if ((m.flags & kUuidFlagResync) &&
        (d.repl == ReplState::kSyncSource || d.repl == ReplState::kPausedSyncS)) {
      // The target finished and adopted our generation (§5.3).
      SetRepl(p, vol, ReplState::kEstablished);
      // The bits the resync cleared reach the disk now: after a crash of
      // ours the bitmap would otherwise still say "all out of sync".
      if (v.attached) WriteDirtyBitmapPages(vol, nullptr);
      if (v.attached && v.sb.peers[p].bitmap_uuid != 0) {
        PushHistory(vol, v.sb.peers[p].bitmap_uuid);
        v.sb.peers[p].bitmap_uuid = 0;
        WriteSuperblock(vol, nullptr);
      }
      EmitEvent(Fmt("resync-finished name:%s peer-node-id:%d volume:%u role:SyncSource",
                    cfg_.name.c_str(), p, v.vnr.value()));
    }
    // A new generation of the Primary whose writes we receive is ours too,
    // also while a resync between us runs (§5.2).
    bool receiving = d.repl == ReplState::kEstablished || d.repl == ReplState::kSyncSource ||
                     d.repl == ReplState::kSyncTarget || d.repl == ReplState::kPausedSyncS ||
                     d.repl == ReplState::kPausedSyncT;
    if ((m.flags & kUuidFlagNewDatagen) && v.attached && receiving && pr.role == Role::kPrimary &&
        v.disk >= DiskState::kInconsistent && v.disk != DiskState::kOutdated)
      AdoptPeerUuid(vol, m.current, p);
    if (u.disk != d.peer_disk && pr.handshake_done) SetPeerDisk(p, vol, u.disk);
    return;
  }
  if (pr.handshake_done && d.repl != ReplState::kEstablished) {
    // A resync or verify with this peer is running: the round waits; the
    // initiator asks again later.
    d.uuids_sent = false;
    return;
  }
  d.peer_uuids = u;
  d.got_uuids = true;
  if (pr.handshake_done) {
    // A handshake round for one volume (after attach on either side).
    if (!d.uuids_sent) SendUuids(p, vol);
    DecideVolume(p, vol);
    return;
  }
  MaybeFinishHandshake(p);
}

void ResourceImpl::OnState(int p, const State& m) {
  Peer& pr = peers_[p];
  Role old_role = pr.role;
  SetPeerRole(p, static_cast<Role>(m.role));
  pr.state_flags = m.flags;
  pr.connected_mask = m.connected_mask;
  pr.primary_mask = m.primary_mask;
  if (m.dagtag > pr.last_dagtag) {
    pr.last_dagtag = m.dagtag;
    RetryWaitingResyncRequests();
  }
  bool first = !pr.got_state;
  pr.got_state = true;
  if (old_role != pr.role) RetryWaitingResyncRequests();
  if (pr.handshake_done) {
    for (size_t vol = 0; vol < volumes_.size() && vol < m.disks.size(); ++vol) {
      DiskState s = static_cast<DiskState>(m.disks[vol]);
      PeerDevice& d = pr.dev[vol];
      SetPeerDisk(p, static_cast<int>(vol), s);
      if (s <= DiskState::kFailed &&
          (d.repl >= ReplState::kStartingSyncS && d.repl <= ReplState::kPausedSyncT))
        AbortResync(p, static_cast<int>(vol));
    }
    // A peer that stopped being Primary has everything flushed to us: our data
    // follows its state again.
    (void)old_role;
  }
  if (first) MaybeFinishHandshake(p);
}

void ResourceImpl::MaybeFinishHandshake(int p) {
  Peer& pr = peers_[p];
  if (pr.handshake_done || !pr.got_params || !pr.got_state) return;
  for (const PeerDevice& d : pr.dev)
    if (!d.got_uuids || !d.got_sizes) return;
  // Two Primaries may only meet with allow-two-primaries; otherwise the
  // connection is refused and retried (SS_TWO_PRIMARIES at connect, §1.4).
  bool i_was_primary = !pr.dev.empty() && pr.dev[0].sent_uuids.primary;
  if ((role_ == Role::kPrimary || i_was_primary) && pr.role == Role::kPrimary &&
      !opts_.allow_two_primaries) {
    // rr-conflict decides first when one Primary would have to be overwritten.
    UuidSide peer_side = pr.dev.empty() ? UuidSide{} : pr.dev[0].peer_uuids;
    peer_side.primary = true;
    HandshakeDecision dec = pr.dev.empty()
                                ? HandshakeDecision{}
                                : DecideSync(pr.dev[0].sent_uuids, peer_side, Policy(), self_ < p);
    if (dec.outcome == HandshakeOutcome::kRrConflict ||
        dec.outcome == HandshakeOutcome::kSplitBrain ||
        dec.outcome == HandshakeOutcome::kUnrelatedData) {
      --handshaking_;
      pr.handshake_done = true;
      SetConn(p, ConnState::kConnected);
      EmitEvent(Fmt("handshake name:%s peer-node-id:%d volume:0 %s", cfg_.name.c_str(), p,
                    dec.reason.c_str()));
      StandAloneAfterVerdict(p);
      return;
    }
    EmitEvent(Fmt("connection to %s refused: both are Primary", pr.name.c_str()));
    DropConn(p, ConnState::kProtocolError);
    return;
  }
  // Nor may the connection join two Primaries through a third node (what
  // DRBD's connect 2PC, forwarded through the mesh, refuses).
  if (!opts_.allow_two_primaries) {
    uint64_t mine = PrimaryMask() & ~(1ull << p);
    uint64_t theirs = pr.primary_mask & ~(1ull << self_);
    if (pr.role == Role::kPrimary) theirs |= 1ull << p;
    if (role_ == Role::kPrimary) mine |= 1ull << self_;
    if (mine && theirs && (mine | theirs) != mine && (mine | theirs) != theirs) {
      EmitEvent(Fmt("connection to %s refused: it would join two Primaries", pr.name.c_str()));
      DropConn(p, ConnState::kProtocolError);
      return;
    }
  }
  pr.handshake_done = true;
  --handshaking_;
  SetConn(p, ConnState::kConnected);
  for (size_t vol = 0; vol < volumes_.size(); ++vol) {
    PeerDevice& d = pr.dev[vol];
    d.peer_uuids.primary = pr.role == Role::kPrimary;
    d.peer_uuids.has_quorum = (pr.state_flags & kStateQuorum) != 0;
    DecideVolume(p, static_cast<int>(vol));
    if (pr.conn != ConnState::kConnected) break;  // ended by the decision
  }
  pr.discard_my_data = false;
  pr.reconnect = false;
  pr.lost_as_primary = false;
  ReleaseFrozenWrites();
  dirty_ = true;
}

HandshakePolicy ResourceImpl::Policy() const {
  HandshakePolicy pol;
  pol.after_sb_0pri = opts_.after_sb_0pri;
  pol.after_sb_1pri = opts_.after_sb_1pri;
  pol.after_sb_2pri = opts_.after_sb_2pri;
  pol.always_asbp = opts_.always_asbp;
  pol.rr_conflict = opts_.rr_conflict;
  pol.quorum_enabled = opts_.quorum != kQuorumOff;
  return pol;
}

void ResourceImpl::DecideVolume(int p, int vol) {
  Peer& pr = peers_[p];
  PeerDevice& d = pr.dev[vol];
  Volume& v = volumes_[vol];
  recheck_ = true;
  d.got_uuids = false;
  d.uuids_sent = false;
  d.verify_bits = 0;
  const UuidSide& self = d.sent_uuids;
  const UuidSide& peer = d.peer_uuids;
  bool peer_attached = peer.disk >= DiskState::kInconsistent;
  if (!v.attached || !peer_attached) {
    SetRepl(p, vol, ReplState::kEstablished);
    SetPeerDisk(p, vol, peer.disk);
    return;
  }
  if ((v.sb.current_uuid & ~kUuidPrimaryBit) != (self.current & ~kUuidPrimaryBit)) {
    EmitEvent("generation changed during the handshake: retrying");
    DropConn(p, ConnState::kNetworkFailure);
    return;
  }
  bool fresh_slot = false;
  if (SlotOf(v, p) < 0 && !(fresh_slot = EnsureSlot(vol, p) >= 0)) {
    // Without a bitmap slot nothing that differs could ever be tracked or
    // resynced: refuse the peer rather than claim it is in sync.
    EmitEvent(Fmt("no free bitmap slot name:%s peer-node-id:%d volume:%u: refusing the "
                  "connection (create the metadata with more peer slots: create-md --max-peers)",
                  cfg_.name.c_str(), p, v.vnr.value()));
    GoStandAlone(p);
    return;
  }
  HandshakeDecision dec = DecideSync(self, peer, Policy(), self_ < p);
  if (v.disk == DiskState::kNegotiating) {
    // The negotiation resolves: as we claimed unless we become target.
    SetDisk(vol, dec.outcome == HandshakeOutcome::kBecomeTarget ? DiskState::kOutdated
                 : self.disk == DiskState::kUpToDate            ? DiskState::kConsistent
                                                                : self.disk);
    // Without fencing, Consistent becomes UpToDate on connect (may_be_up_to_date).
    if (dec.outcome != HandshakeOutcome::kBecomeTarget && self.disk >= DiskState::kConsistent)
      SetDisk(vol, DiskState::kUpToDate);
  }
  EmitEvent(Fmt("handshake name:%s peer-node-id:%d volume:%u %s", cfg_.name.c_str(), p,
                v.vnr.value(), dec.reason.c_str()));
  HandshakeOutcome out = dec.outcome;
  BitmapPrep prep = dec.bitmap;
  bool full = prep == BitmapPrep::kSetAll;
  // Equal generations but blocks one side could not confirm (writes in flight
  // when the connection broke): resync them; the clean side, else the better
  // disk, else the Primary, else the only side with bits, else the side further
  // along the lost Primary's writes, else the lower node id is the source.
  // Both ends decide from the same pair of Uuids.
  if (out == HandshakeOutcome::kNoSync && (self.dirty_bits || peer.dirty_bits) &&
      self.disk >= DiskState::kOutdated && peer.disk >= DiskState::kOutdated) {
    // Bits towards the other side mean it misses blocks we have.
    // A side that restarted after a crash holds "unknown" bits from its AL,
    // not newer data: the clean side is source.
    bool self_unclean = (self.flags & kUuidFlagUncleanRestart) != 0;
    bool peer_unclean = (peer.flags & kUuidFlagUncleanRestart) != 0;
    // Bits on both sides: writes of a Primary both lost that each got only
    // part of. Its stream reached both in order, so the side with its later
    // dagtag holds every block in either bitmap as that Primary last wrote it
    // (DRBD's reconciliation, drbd-semantics.md §3.6); the lower node id could
    // overwrite acknowledged writes with older data (random seed 124).
    int further = CompareDagtags(self, peer);
    bool i_source;
    if (self_unclean != peer_unclean)
      i_source = peer_unclean;
    else if (self.disk != peer.disk)
      i_source = self.disk > peer.disk;
    else if (self.primary != peer.primary)
      i_source = self.primary;
    else if ((self.dirty_bits > 0) != (peer.dirty_bits > 0))
      i_source = self.dirty_bits > 0;
    else if (further != 0)
      i_source = further > 0;
    else
      i_source = self_ < p;
    out = i_source ? HandshakeOutcome::kBecomeSource : HandshakeOutcome::kBecomeTarget;
    prep = BitmapPrep::kUse;
  }
  // A disk that is itself Inconsistent (a SyncTarget elsewhere, or fresh)
  // cannot be a source; decide again once it is UpToDate (MaybeRehandshake).
  if ((out == HandshakeOutcome::kBecomeSource && self.disk <= DiskState::kInconsistent) ||
      (out == HandshakeOutcome::kBecomeTarget && peer.disk <= DiskState::kInconsistent)) {
    EmitEvent("resync deferred: the source disk is not consistent yet");
    SetRepl(p, vol, ReplState::kEstablished);
    SetPeerDisk(p, vol, peer.disk);
    return;
  }
  switch (out) {
    case HandshakeOutcome::kNoSync: {
      SetRepl(p, vol, ReplState::kEstablished);
      SetPeerDisk(p, vol, peer.disk);
      // Outdated follows a stable UpToDate peer; Consistent becomes UpToDate
      // (no fencing: may_be_up_to_date) (§2.3).
      if ((v.disk == DiskState::kOutdated && peer.disk == DiskState::kUpToDate &&
           (self.current & ~kUuidPrimaryBit) == (peer.current & ~kUuidPrimaryBit)) ||
          v.disk == DiskState::kConsistent)
        SetDisk(vol, DiskState::kUpToDate);
      if (v.sb.peers[p].bitmap_uuid != 0 &&
          (self.current & ~kUuidPrimaryBit) == (peer.current & ~kUuidPrimaryBit)) {
        PushHistory(vol, v.sb.peers[p].bitmap_uuid);
        v.sb.peers[p].bitmap_uuid = 0;
      }
      if (fresh_slot && (self.current & ~kUuidPrimaryBit) == (peer.current & ~kUuidPrimaryBit)) {
        // Same data on both sides: the new slot starts clean.
        int slot = SlotOf(v, p);
        v.bitmaps[slot].ClearAll();
        MarkPageDirty(vol, slot, 0, v.bitmaps[slot].size());
      }
      v.sb.peers[p].flags &= ~kMdPeerOutdated;
      v.sb.peers[p].flags |= kMdPeerConnected | kMdPeerDeviceSeen;
      WriteSuperblock(vol, nullptr);
      break;
    }
    case HandshakeOutcome::kBecomeSource:
      SetPeerDisk(p, vol, peer.disk);
      // Chosen as the source, a Consistent disk holds the best data this
      // handshake knows of: UpToDate (no fencing: may_be_up_to_date), as on
      // a no-sync handshake. Left Consistent, its target would end Consistent
      // too, and a Primary target would serve from a disk nobody can upgrade.
      if (v.disk == DiskState::kConsistent) SetDisk(vol, DiskState::kUpToDate);
      StartBitmapExchange(p, vol, prep, dec.other_node, full);
      break;
    case HandshakeOutcome::kBecomeTarget: {
      SetPeerDisk(p, vol, peer.disk);
      int slot = SlotOf(v, p);
      if (slot >= 0) {
        if (prep == BitmapPrep::kClear) v.bitmaps[slot].ClearAll();
        if (prep == BitmapPrep::kSetAll) {
          v.MarkAllOutOfSync(slot);
          MarkPageDirty(vol, slot, 0, v.bitmaps[slot].size());
        }
      }
      d.rs_full = full;
      if (role_ == Role::kPrimary && !opts_.allow_two_primaries &&
          self.disk == DiskState::kUpToDate) {
        // A Primary serving from its own UpToDate disk never silently becomes
        // SyncTarget.
        GoStandAlone(p);
        return;
      }
      SetRepl(p, vol, ReplState::kWFBitMapT);
      if (v.disk == DiskState::kUpToDate) SetDisk(vol, DiskState::kOutdated);
      break;
    }
    case HandshakeOutcome::kSplitBrain:
      EmitEvent(Fmt("split-brain name:%s peer-node-id:%d volume:%u", cfg_.name.c_str(), p,
                    v.vnr.value()));
      StandAloneAfterVerdict(p);
      break;
    case HandshakeOutcome::kUnrelatedData:
      EmitEvent(Fmt("unrelated-data name:%s peer-node-id:%d volume:%u", cfg_.name.c_str(), p,
                    v.vnr.value()));
      StandAloneAfterVerdict(p);
      break;
    case HandshakeOutcome::kRetryConnect:
      DropConn(p, ConnState::kNetworkFailure);
      break;
    case HandshakeOutcome::kRrConflict:
      if (opts_.rr_conflict == RrConflict::kRetryConnect) {
        DropConn(p, ConnState::kNetworkFailure);
      } else {
        StandAloneAfterVerdict(p);
      }
      break;
  }
}

// --- losing connections ------------------------------------------------------------

void ResourceImpl::OnTransportDown(NodeId id) {
  if (!ValidPeer(id)) return;
  int p = id.value();
  if (!peers_[p].transport_up) return;
  LostConnection(p, ConnState::kNetworkFailure);
  AfterInput();
}

void ResourceImpl::LostConnection(int p, ConnState why) {
  Peer& pr = peers_[p];
  if (!pr.transport_up) return;
  if (pr.handshake_done) {
    pr.reconnect = true;
  } else {
    --handshaking_;
  }
  pr.transport_up = false;
  pr.handshake_done = false;
  ++pr.conn_gen;
  recheck_ = true;
  // Quorum first: requests completed below must see the partition as it is.
  UpdateQuorum();
  ConnectionLostWrites(p);
  FlushPeerAcks(false);
  for (size_t vol = 0; vol < volumes_.size(); ++vol) {
    PeerDevice& d = pr.dev[vol];
    d.rs_in_flight.clear();
    d.rs_superseded.clear();
    d.rs_serving.clear();
    d.ov_in_flight = 0;
    d.got_uuids = d.got_sizes = d.uuids_sent = false;
  }
  // A 2PC waiting for this peer treats the loss as its answer.
  if (twopc_) {
    if (twopc_->parent == p) {
      twopc_.reset();
    } else if (twopc_->waiting & (1ull << p)) {
      twopc_->waiting &= ~(1ull << p);
      TwopcMaybeReply();
    }
  }
  // Two Primaries that lose each other do not start new generations (§1.5).
  pr.lost_as_primary = role_ == Role::kPrimary && pr.role == Role::kPrimary;
  // A Secondary that loses its Primary may have missed its last writes:
  // UpToDate -> Consistent until a handshake round or the lost-peer
  // re-evaluation settles it (§2.3). Under protocol C every acknowledged
  // write reached every receiver, so only protocol A needs it.
  if (role_ == Role::kSecondary && pr.role == Role::kPrimary && opts_.protocol == WireProtocol::kA)
    for (size_t vol = 0; vol < volumes_.size(); ++vol)
      if (volumes_[vol].disk == DiskState::kUpToDate)
        SetDisk(static_cast<int>(vol), DiskState::kConsistent);
  pr.we_were_primary_at_loss = role_ == Role::kPrimary;
  SetPeerRole(p, Role::kUnknown);
  if (pr.conn == ConnState::kConnected || pr.conn == ConnState::kConnecting) {
    SetConn(p, why);
  }
  if (pr.want) {
    SetConn(p, ConnState::kUnconnected);
    SetConn(p, ConnState::kConnecting);
  } else {
    SetConn(p, ConnState::kStandAlone);
  }
  pr.lost_at = now_;
  // A Primary tells the rest of the mesh which peer it lost (see
  // OnLostPeerPrepare): that peer may not have noticed yet.
  if (role_ == Role::kPrimary) StartLostPeerQuery(p);
  // A lost-peer query waiting for this peer treats the loss as its answer
  // (after the role change above: the answer must not name it); one that came
  // from this peer has no one left to answer.
  for (size_t i = lost_queries_.size(); i-- > 0;) {
    LostPeerQuery& q = lost_queries_[i];
    if (q.parent == p) {
      lost_queries_.erase(lost_queries_.begin() + static_cast<long>(i));
    } else if (q.waiting & (1ull << p)) {
      q.waiting &= ~(1ull << p);
      LostPeerQueryMaybeDone(i);
    }
  }
  if (!pr.disconnect_done.empty()) FinishDisconnect(p);
  RetryWaitingResyncRequests();
  ReleaseFrozenWrites();
  dirty_ = true;
}

void ResourceImpl::DropConn(int p, ConnState why) {
  Emit(tandem::engine::DropConnection{NodeId(static_cast<uint8_t>(p))});
  LostConnection(p, why);
}

void ResourceImpl::StandAloneAfterVerdict(int p) {
  Peer& pr = peers_[p];
  pr.want = false;
  SetConn(p, ConnState::kStandAlone);
  if (pr.transport_up) {
    // The transport is told at drop time (the peer's verdict may still be on
    // its way to us, ours to it).
    pr.standalone_drop_at = now_ + 2 * opts_.ping_timeout;
    ArmTimerAt(pr.standalone_drop_at);
  } else {
    Emit(WantConnection{pr.id, false});
  }
}

void ResourceImpl::ReopenAfterVerdict(int p) {
  Peer& pr = peers_[p];
  // A StandAlone verdict keeps the old transport for a moment (above); a
  // connect in that window must not reuse it: the handshake starts only on a
  // fresh OnTransportUp, so drop it now and let the transport reconnect.
  if (!pr.transport_up) return;
  pr.standalone_drop_at = 0;
  Emit(DropConnection{pr.id});
  LostConnection(p, ConnState::kStandAlone);
}

void ResourceImpl::CheckKoCount() {
  // DRBD's ko-count: a peer that is connected (it answers pings) but has not
  // answered a write or a barrier for timeout * ko-count is excluded, so a
  // stuck disk there cannot stall the Primary forever (drbd-semantics.md §9).
  const Time limit = opts_.timeout * static_cast<Time>(opts_.ko_count);
  uint64_t stuck = 0;
  for (const auto& [seq, r] : reqs_)
    if (now_ - r.started > limit) stuck |= r.peers_pending | r.barrier_wait;
  for (int p = 0; p < kMaxNodes; ++p) {
    if (!(stuck & (1ull << p)) || !peers_[p].exists || !peers_[p].transport_up) continue;
    EmitEvent(Fmt("ko-count name:%s peer-node-id:%d: no answer for %lld ms, dropping the connection",
                  cfg_.name.c_str(), p, static_cast<long long>(limit / kMs)));
    DropConn(p, ConnState::kTimeout);
  }
}

void ResourceImpl::GoStandAlone(int p) {
  Peer& pr = peers_[p];
  pr.want = false;
  Emit(WantConnection{pr.id, false});
  if (pr.transport_up) DropConn(p, ConnState::kDisconnecting);
  SetConn(p, ConnState::kStandAlone);
}

// --- two-phase commit ----------------------------------------------------------------

void ResourceImpl::StartTwopc(TwopcKind kind, uint8_t target, uint64_t param) {
  Twopc t;
  t.tid = (++twopc_seq_ << 5) | static_cast<uint32_t>(self_);
  t.initiator = self_;
  t.parent = -1;
  t.kind = kind;
  t.target = target;
  t.param = param;
  t.deadline = now_ + opts_.twopc_timeout;
  t.reachable = (1ull << self_) | ConnectedMask();
  t.primary = PrimaryMask();
  t.max_size = param;
  for (int p = 0; p < kMaxNodes; ++p)
    if (peers_[p].exists && peers_[p].conn == ConnState::kConnected && peers_[p].handshake_done)
      t.children |= 1ull << p;
  t.waiting = t.children;
  twopc_ = t;
  TwopcPrepare m;
  m.tid = t.tid;
  m.initiator = static_cast<uint8_t>(self_);
  m.kind = static_cast<uint8_t>(kind);
  m.target = target;
  m.param = param;
  for (int p = 0; p < kMaxNodes; ++p)
    if (t.children & (1ull << p)) Send(p, m);
  TwopcMaybeReply();
}

void ResourceImpl::OnTwopcPrepare(int p, const TwopcPrepare& m) {
  TwopcKind kind = static_cast<TwopcKind>(m.kind);
  if (kind == TwopcKind::kLostPeer) return OnLostPeerPrepare(p, m);
  if (kind == TwopcKind::kDisconnect && m.tid == 0) {
    // Graceful-disconnect notice (§7.3): the Secondary side ends Outdated.
    for (size_t vol = 0; vol < volumes_.size(); ++vol) {
      if (role_ == Role::kSecondary && peers_[p].role == Role::kPrimary &&
          volumes_[vol].disk == DiskState::kUpToDate)
        SetDisk(static_cast<int>(vol), DiskState::kOutdated);
      if (role_ == Role::kPrimary && volumes_[vol].attached) {
        volumes_[vol].sb.peers[p].flags |= kMdPeerOutdated;
        WriteSuperblock(static_cast<int>(vol), nullptr);
        SetPeerDisk(p, static_cast<int>(vol), DiskState::kOutdated);
      }
    }
    TwopcReply ack;
    ack.tid = 0;
    ack.vote = static_cast<uint8_t>(TwopcVote::kYes);
    Send(p, ack);
    return;
  }
  TwopcReply reply;
  reply.tid = m.tid;
  if (twopc_) {
    reply.vote = static_cast<uint8_t>(twopc_->tid == m.tid ? TwopcVote::kYes : TwopcVote::kRetry);
    Send(p, reply);
    return;
  }
  Twopc t;
  t.tid = m.tid;
  t.initiator = m.initiator;
  t.parent = p;
  t.kind = kind;
  t.target = m.target;
  t.param = m.param;
  t.deadline = now_ + opts_.twopc_timeout;
  t.reachable = (1ull << self_) | ConnectedMask();
  t.primary = PrimaryMask();
  t.max_size = m.param;
  if (kind == TwopcKind::kPromote) {
    if (role_ == Role::kPrimary && !opts_.allow_two_primaries) {
      t.vote_no = true;
      t.no_code = static_cast<int8_t>(SsCode::kTwoPrimaries);
    }
    if (promote_ && !t.vote_no && self_ > m.initiator) {
      // Concurrent promotions: the lower node id wins, the other retries.
      t.retry = true;
    }
  } else if (kind == TwopcKind::kResize) {
    int vol = m.target < volumes_.size() ? m.target : -1;
    if (vol >= 0 && volumes_[vol].attached && volumes_[vol].usable_bytes < m.param) {
      t.vote_no = true;
      t.no_code = static_cast<int8_t>(SsCode::kInvalidArgument);
    }
    for (int q = 0; vol >= 0 && q < kMaxNodes; ++q)
      if (peers_[q].exists && peers_[q].dev[vol].repl != ReplState::kEstablished &&
          peers_[q].conn == ConnState::kConnected) {
        t.vote_no = true;
        t.no_code = static_cast<int8_t>(SsCode::kResizeResync);
      }
  }
  // Forward to the rest of the mesh, so nodes two hops away take part.
  for (int q = 0; q < kMaxNodes; ++q) {
    if (q == p || q == m.initiator || !peers_[q].exists) continue;
    if (peers_[q].conn == ConnState::kConnected && peers_[q].handshake_done)
      t.children |= 1ull << q;
  }
  if (t.vote_no) t.children = 0;
  t.waiting = t.children;
  twopc_ = t;
  for (int q = 0; q < kMaxNodes; ++q)
    if (t.children & (1ull << q)) Send(q, m);
  TwopcMaybeReply();
}

void ResourceImpl::TwopcMaybeReply() {
  if (!twopc_ || twopc_->waiting != 0 || twopc_->prepared) return;
  Twopc& t = *twopc_;
  if (t.parent < 0) {
    TwopcFinish(!t.vote_no && !t.retry);
    return;
  }
  TwopcReply r;
  r.tid = t.tid;
  r.vote = static_cast<uint8_t>(t.vote_no ? TwopcVote::kNo
                                : t.retry ? TwopcVote::kRetry
                                          : TwopcVote::kYes);
  r.code = t.no_code;
  r.reachable = t.reachable;
  r.primary = t.primary;
  r.weak = t.weak;
  r.max_size = t.max_size;
  t.prepared = true;
  Send(t.parent, r);
}

void ResourceImpl::OnTwopcReply(int p, const TwopcReply& m) {
  if (m.tid == 0) {
    if (!peers_[p].disconnect_done.empty()) FinishDisconnect(p);
    return;
  }
  if (OnLostPeerReply(p, m)) return;
  if (!twopc_ || twopc_->tid != m.tid || !(twopc_->waiting & (1ull << p))) return;
  Twopc& t = *twopc_;
  t.waiting &= ~(1ull << p);
  t.reachable |= m.reachable;
  t.primary |= m.primary;
  t.weak |= m.weak;
  switch (static_cast<TwopcVote>(m.vote)) {
    case TwopcVote::kNo:
      t.vote_no = true;
      if (t.no_code == 0) t.no_code = m.code;
      break;
    case TwopcVote::kRetry:
      t.retry = true;
      break;
    default:
      break;
  }
  TwopcMaybeReply();
}

void ResourceImpl::TwopcFinish(bool commit) {
  if (!twopc_) return;
  Twopc t = *twopc_;
  twopc_.reset();
  if (t.kind == TwopcKind::kPromote && commit && !opts_.allow_two_primaries &&
      (t.primary & ~(1ull << self_))) {
    commit = false;
    t.vote_no = true;
    t.no_code = static_cast<int8_t>(SsCode::kTwoPrimaries);
  }
  if (t.kind == TwopcKind::kPromote && commit && promote_) {
    // The data we promote on may have gone while the 2PC ran (a peer's
    // State that said UpToDate was stale): decide again, and retry.
    std::string why;
    SsCode data = CheckPromoteData(promote_->force, &why);
    if (data != SsCode::kSuccess) {
      EmitEvent("promotion aborted at commit: " + why);
      commit = false;
      t.vote_no = true;
      t.no_code = static_cast<int8_t>(data);
    }
  }
  if (commit) {
    TwopcCommit c;
    c.tid = t.tid;
    c.primary = t.primary | (t.kind == TwopcKind::kPromote ? 1ull << self_ : 0);
    c.reachable = t.reachable;
    c.param = t.param;
    for (int p = 0; p < kMaxNodes; ++p)
      if (t.children & (1ull << p) && peers_[p].conn == ConnState::kConnected) Send(p, c);
    ApplyTwopcCommit(t, c.primary);
  } else {
    for (int p = 0; p < kMaxNodes; ++p)
      if (t.children & (1ull << p) && peers_[p].conn == ConnState::kConnected)
        Send(p, TwopcAbort{t.tid});
  }
  if (t.kind == TwopcKind::kPromote && promote_) {
    if (commit) {
      PendingPromote pp = *promote_;
      promote_.reset();
      DoPromote(pp.force);
      if (pp.automatic) {
        ++writers_;
      } else {
        explicit_primary_ = true;
      }
      Done(pp.cookie, SsCode::kSuccess);
    } else {
      SsCode code = t.retry ? SsCode::kConcurrentStChg : static_cast<SsCode>(t.no_code);
      if (code == SsCode::kSuccess || t.no_code == 0) code = SsCode::kConcurrentStChg;
      if (now_ < promote_->deadline) {
        // Retry after a random delay (twopc-retry-timeout, growing).
        int n = std::min(promote_->attempts++, 5);
        Time base = opts_.twopc_retry_timeout << n;
        promote_->retry_at =
            now_ + base / 2 + static_cast<Time>(env_->Random64() % static_cast<uint64_t>(base));
      } else {
        PendingPromote pp = *promote_;
        promote_.reset();
        std::string msg = SsCodeMessage(code);
        if (code == SsCode::kTwoPrimaries) {
          for (int p = 0; p < kMaxNodes; ++p)
            if (t.primary & (1ull << p) && p != self_)
              msg = Fmt("%s is Primary on %s", cfg_.name.c_str(), peers_[p].name.c_str());
        }
        Done(pp.cookie, code, msg);
      }
    }
  } else if (t.kind == TwopcKind::kResize) {
    for (uint64_t c : twopc_cookies_)
      Done(c, commit ? SsCode::kSuccess : static_cast<SsCode>(t.no_code ? t.no_code : -17));
    twopc_cookies_.clear();
  }
}

void ResourceImpl::OnTwopcCommit(int p, const TwopcCommit& m) {
  if (!twopc_ || twopc_->tid != m.tid) return;
  Twopc t = *twopc_;
  twopc_.reset();
  for (int q = 0; q < kMaxNodes; ++q)
    if (t.children & (1ull << q) && peers_[q].conn == ConnState::kConnected) Send(q, m);
  (void)p;
  ApplyTwopcCommit(t, m.primary);
}

void ResourceImpl::OnTwopcAbort(int p, const TwopcAbort& m) {
  (void)p;
  if (!twopc_ || twopc_->tid != m.tid) return;
  Twopc t = *twopc_;
  twopc_.reset();
  for (int q = 0; q < kMaxNodes; ++q)
    if (t.children & (1ull << q) && peers_[q].conn == ConnState::kConnected) Send(q, m);
}

void ResourceImpl::ApplyTwopcCommit(const Twopc& t, uint64_t primary) {
  if (t.kind == TwopcKind::kPromote && t.initiator != self_) {
    int init = t.initiator;
    if (peers_[init].exists && peers_[init].conn == ConnState::kConnected) {
      SetPeerRole(init, Role::kPrimary);
    } else {
      // A Primary we are not directly connected to: we cannot follow its
      // writes, so our data is Outdated (§1.2, §7.3).
      for (size_t vol = 0; vol < volumes_.size(); ++vol)
        if (volumes_[vol].disk == DiskState::kUpToDate)
          SetDisk(static_cast<int>(vol), DiskState::kOutdated);
    }
    (void)primary;
  } else if (t.kind == TwopcKind::kResize) {
    int vol = t.target;
    if (vol >= 0 && static_cast<size_t>(vol) < volumes_.size()) {
      Volume& v = volumes_[vol];
      uint64_t old = v.size_bytes;
      v.size_bytes = t.param;
      EmitEvent(Fmt("change device name:%s volume:%u size:%llu", cfg_.name.c_str(), v.vnr.value(),
                    static_cast<unsigned long long>(t.param)));
      if (v.attached) {
        v.sb.effective_size_sectors = t.param / kSectorSize;
        WriteSuperblock(vol, nullptr);
        // The new area is synced from the Primary (or the initiator).
        bool source = role_ == Role::kPrimary || (t.initiator == self_ && !AnyPrimaryPeer());
        if (source && t.param > old) {
          // Also towards diskful peers that are away: they resync the new
          // part when they come back grown.
          for (int q = 0; q < kMaxNodes; ++q) {
            if (!IsDiskfulPeer(q)) continue;
            MarkOutOfSync(vol, q, old, t.param - old);
            if (peers_[q].conn == ConnState::kConnected)
              StartBitmapExchange(q, vol, BitmapPrep::kUse, -1, false);
          }
        }
      }
    }
  }
  dirty_ = true;
}

// --- roles -----------------------------------------------------------------------------

SsCode ResourceImpl::CheckPromote(bool force, std::string* why) const {
  if (role_ == Role::kPrimary) return SsCode::kNothingToDo;
  if (force_io_failures_) return SsCode::kDeviceInUse;
  if (twopc_ || handshaking_ > 0) return SsCode::kInTransientState;
  // A volume handshake round decides from our current generation; a
  // promotion (and its first write) waits until the round is over.
  for (int p = 0; p < kMaxNodes; ++p)
    if (peers_[p].exists && peers_[p].conn == ConnState::kConnected)
      for (const PeerDevice& d : peers_[p].dev)
        if (d.uuids_sent || d.repl == ReplState::kWFBitMapS || d.repl == ReplState::kWFBitMapT)
          return SsCode::kInTransientState;
  for (int p = 0; p < kMaxNodes; ++p) {
    const Peer& pr = peers_[p];
    if (pr.exists && pr.conn == ConnState::kConnected && pr.role == Role::kPrimary &&
        !opts_.allow_two_primaries) {
      *why = Fmt("%s is Primary on %s", cfg_.name.c_str(), pr.name.c_str());
      return SsCode::kTwoPrimaries;
    }
  }
  if (SsCode data = CheckPromoteData(force, why); data != SsCode::kSuccess) return data;
  if (opts_.quorum != kQuorumOff && !have_quorum_ && !force) {
    *why = Fmt("%s: no quorum", cfg_.name.c_str());
    return SsCode::kNoQuorum;
  }
  return SsCode::kSuccess;
}

// The part of CheckPromote that a promotion's 2PC may outlive: checked again
// when the 2PC commits, since a disk or a peer's disk may have changed while
// the peers were answering.
SsCode ResourceImpl::CheckPromoteData(bool force, std::string* why) const {
  for (size_t vol = 0; vol < volumes_.size(); ++vol) {
    const Volume& v = volumes_[vol];
    // Known stale data is never promoted without --force (§2.1), even with
    // an UpToDate peer at hand: the peer may not have what a Primary wrote
    // while this node was Outdated, and nothing would bring it here.
    if (v.attached && v.disk == DiskState::kOutdated && !force) {
      *why = Fmt("%s: volume %u is Outdated", cfg_.name.c_str(), v.vnr.value());
      return SsCode::kNoUpToDateDisk;
    }
    if (HasUpToDateData(static_cast<int>(vol))) continue;
    if (force && v.attached && v.disk >= DiskState::kInconsistent) continue;
    *why = Fmt("%s: no access to UpToDate data for volume %u", cfg_.name.c_str(), v.vnr.value());
    return SsCode::kNoUpToDateDisk;
  }
  return SsCode::kSuccess;
}

void ResourceImpl::TryPromote() {
  if (!promote_ || twopc_) return;
  std::string why;
  SsCode code = CheckPromote(promote_->force, &why);
  if (code == SsCode::kNothingToDo) {
    PendingPromote pp = *promote_;
    promote_.reset();
    if (pp.automatic)
      ++writers_;
    else
      explicit_primary_ = true;
    return Done(pp.cookie, SsCode::kSuccess);
  }
  if (code == SsCode::kSuccess) {
    if (ConnectedMask() != 0) {
      StartTwopc(TwopcKind::kPromote, 0xff, 0);
      return;
    }
    PendingPromote pp = *promote_;
    promote_.reset();
    DoPromote(pp.force);
    if (pp.automatic)
      ++writers_;
    else
      explicit_primary_ = true;
    return Done(pp.cookie, SsCode::kSuccess);
  }
  bool transient = code == SsCode::kTwoPrimaries || code == SsCode::kNoUpToDateDisk ||
                   code == SsCode::kInTransientState || code == SsCode::kConcurrentStChg;
  if (transient && now_ < promote_->deadline) {
    promote_->retry_at = now_ + 100 * kMs;
    return;
  }
  PendingPromote pp = *promote_;
  promote_.reset();
  Done(pp.cookie, code, why.empty() ? SsCodeMessage(code) : why);
}

void ResourceImpl::DoPromote(bool force) {
  for (size_t vol = 0; vol < volumes_.size(); ++vol) {
    Volume& v = volumes_[vol];
    int vi = static_cast<int>(vol);
    if (force && v.attached && v.disk >= DiskState::kInconsistent &&
        v.disk != DiskState::kUpToDate && !HasUpToDateData(vi)) {
      // "Forced to consider local data as UpToDate!" (§1.2): connections where
      // we were SyncTarget end, a new generation starts now.
      EmitEvent("Forced to consider local data as UpToDate!");
      for (int p = 0; p < kMaxNodes; ++p)
        if (peers_[p].exists && peers_[p].dev[vol].repl == ReplState::kSyncTarget)
          AbortResync(p, vi);
      SetDisk(vi, DiskState::kUpToDate);
      NewCurrentUuidNow(vi);
      for (int p = 0; p < kMaxNodes; ++p) {
        if (!IsDiskfulPeer(p) || peers_[p].conn != ConnState::kConnected) continue;
        PeerDevice& d = peers_[p].dev[vol];
        if (d.repl == ReplState::kEstablished && d.peer_disk < DiskState::kUpToDate &&
            d.peer_disk >= DiskState::kInconsistent) {
          int slot = SlotOf(v, p);
          if (slot < 0) continue;
          v.MarkAllOutOfSync(slot);
          MarkPageDirty(vi, slot, 0, v.bitmaps[slot].size());
          StartBitmapExchange(p, vi, BitmapPrep::kUse, -1, true);
        }
      }
    } else {
      v.new_uuid_pending = true;
    }
    if (v.attached) {
      v.unclean = false;  // a Primary's data is what the application sees
      v.sb.flags |= kMdCrashedPrimary | kMdPrimaryInd;
      v.sb.flags &= ~kMdPrimaryLostQuorum;
      WriteSuperblock(vi, nullptr);
    }
  }
  lost_quorum_as_primary_ = false;
  SetRole(Role::kPrimary);
}

void ResourceImpl::DoDemote() {
  CloseEpoch();
  SetRole(Role::kSecondary);
  explicit_primary_ = false;
  for (size_t vol = 0; vol < volumes_.size(); ++vol) {
    Volume& v = volumes_[vol];
    v.new_uuid_pending = false;
    if (v.attached) {
      v.sb.flags &= ~kMdCrashedPrimary;
      WriteSuperblock(static_cast<int>(vol), nullptr);
    }
  }
}

void ResourceImpl::Primary(uint64_t cookie, bool force) {
  if (role_ == Role::kPrimary) {
    explicit_primary_ = true;
    return Done(cookie, SsCode::kSuccess);
  }
  if (promote_)
    return Done(cookie, SsCode::kInTransientState, "a promotion is already in progress");
  promote_ = PendingPromote{cookie, force, false, now_ + opts_.auto_promote_timeout, 0, 0};
  TryPromote();
  AfterInput();
}

void ResourceImpl::Secondary(uint64_t cookie, bool force) {
  if (role_ != Role::kPrimary) return Done(cookie, SsCode::kSuccess);
  if (writers_ > 0 && !force) return Done(cookie, SsCode::kDeviceInUse);
  if (force) {
    // secondary --force demotes at once: pending I/O fails, suspended I/O
    // included, and new I/O fails until every opener closed. Writes can be
    // pending without an opener (an explicit Primary): they fail too, or a
    // write frozen without quorum would live on into the Secondary role and
    // complete once quorum returns, on data a resync is about to replace.
    force_io_failures_ = writers_ > 0;
    FailIoNoQuorum();
    std::vector<uint64_t> writes;
    for (auto& [seq, r] : reqs_)
      if (r.req.op != AppOp::kRead && !r.internal_done) writes.push_back(seq);
    for (uint64_t seq : writes) CompleteReq(seq, IoStatus::kIoError);
    DoDemote();
    Done(cookie, SsCode::kSuccess);
    AfterInput();
    return;
  }
  DemoteAfterFlush([this, cookie](SsCode code) { Done(cookie, code); });
  AfterInput();
}

// Flush everything to every peer first, so after the demotion every connected
// peer has every write (§1.2).
void ResourceImpl::DemoteAfterFlush(std::function<void(SsCode)> done) {
  auto shared_done = std::make_shared<std::function<void(SsCode)>>(std::move(done));
  for (size_t vol = 0; vol < volumes_.size(); ++vol) {
    uint64_t seq = ++req_seq_;
    AppReq& r = reqs_[seq];
    r.seq = seq;
    r.vol = static_cast<int>(vol);
    r.req.op = AppOp::kFlush;
    r.req.vnr = volumes_[vol].vnr;
    bool last = vol + 1 == volumes_.size();
    r.internal_done = [this, shared_done, last](IoStatus) {
      if (!last) return;
      if (role_ == Role::kPrimary && writers_ == 0) DoDemote();
      (*shared_done)(SsCode::kSuccess);
      AfterInput();
    };
    IssueFlush(r);
  }
}

void ResourceImpl::OpenForWrite(uint64_t cookie) {
  if (force_io_failures_)
    return Done(cookie, SsCode::kDeviceInUse,
                "device failed by secondary --force; close all openers");
  if (role_ == Role::kPrimary) {
    ++writers_;
    return Done(cookie, SsCode::kSuccess);
  }
  if (!opts_.auto_promote)
    return Done(cookie, SsCode::kNotSupported, "auto-promote is off: promote the resource first");
  if (promote_)
    return Done(cookie, SsCode::kInTransientState, "a promotion is already in progress");
  promote_ = PendingPromote{cookie, false, true, now_ + opts_.auto_promote_timeout, 0, 0};
  TryPromote();
  AfterInput();
}

void ResourceImpl::CloseWriter() {
  if (writers_ > 0) --writers_;
  if (writers_ > 0) return;
  if (force_io_failures_) {
    force_io_failures_ = false;
    dirty_ = true;
    AfterInput();
    return;
  }
  if (role_ == Role::kPrimary && !explicit_primary_) DemoteAfterFlush([](SsCode) {});
  AfterInput();
}

// --- quorum and weak nodes ----------------------------------------------------------------

void ResourceImpl::UpdateQuorum() {
  bool q = true;
  QuorumResult res;
  if (opts_.quorum != kQuorumOff) {
    QuorumInput in;
    in.quorum = opts_.quorum;
    in.minimum_redundancy = opts_.quorum_minimum_redundancy;
    for (const NodeConfig& n : cfg_.nodes)
      if (n.id.value() == self_) in.self_diskless = n.diskless;
    in.self_disk = volumes_.empty() ? DiskState::kDiskless : volumes_[0].disk;
    for (const Volume& v : volumes_) in.self_disk = std::min(in.self_disk, v.disk);
    in.had_quorum = have_quorum_;
    for (int p = 0; p < kMaxNodes; ++p) {
      const Peer& pr = peers_[p];
      if (!pr.exists) continue;
      QuorumPeer qp;
      qp.id = pr.id;
      qp.connected = pr.conn == ConnState::kConnected && pr.handshake_done;
      qp.intentional_diskless = pr.diskless;
      qp.disk = volumes_.empty() ? DiskState::kDUnknown : pr.dev[0].peer_disk;
      for (const Volume& v : volumes_)
        if (v.attached && (v.sb.peers[p].flags & kMdPeerOutdated)) qp.outdated_flag = true;
      qp.has_quorum = (pr.state_flags & kStateQuorum) != 0;
      in.peers.push_back(qp);
    }
    res = CalcQuorum(in);
    q = res.have_quorum;
  }
  if (q == have_quorum_) return;
  have_quorum_ = q;
  dirty_ = true;
  EmitEvent(Fmt("change device name:%s quorum:%s%s%s", cfg_.name.c_str(), q ? "yes" : "no",
                q ? "" : " ", q ? "" : res.Explain().c_str()));
  if (!q && role_ == Role::kPrimary) {
    lost_quorum_as_primary_ = true;
    for (size_t vol = 0; vol < volumes_.size(); ++vol) {
      if (!volumes_[vol].attached) continue;
      volumes_[vol].sb.flags |= kMdPrimaryLostQuorum;
      WriteSuperblock(static_cast<int>(vol), nullptr);
    }
    if (opts_.on_no_quorum == OnNoQuorum::kSuspendIo) {
      suspended_quorum_ = true;
    } else {
      FailIoNoQuorum();
    }
  }
  if (q && suspended_quorum_) {
    suspended_quorum_ = false;
    ResumeSuspended();
  }
}

void ResourceImpl::MaybeRehandshake() {
  // A round the peer did not answer (it was busy) ends after a second.
  for (int p = 0; p < kMaxNodes; ++p) {
    Peer& pr = peers_[p];
    if (!pr.exists || !pr.handshake_done) continue;
    for (PeerDevice& d : pr.dev) {
      if (!d.uuids_sent) continue;
      if (now_ - d.last_rehandshake >= kSec) {
        d.uuids_sent = false;
      } else {
        ArmTimerAt(d.last_rehandshake + kSec);
      }
    }
  }
  if (twopc_ || promote_) return;  // roles are about to change: ask later
  for (size_t vi = 0; vi < volumes_.size(); ++vi) {
    int vol = static_cast<int>(vi);
    const Volume& v = volumes_[vol];
    if (v.attached && v.disk == DiskState::kNegotiating) {
      // An attach whose round went unanswered asks again.
      for (int p = 0; p < kMaxNodes; ++p) {
        Peer& pr = peers_[p];
        if (!IsDiskfulPeer(p) || pr.conn != ConnState::kConnected || !pr.handshake_done) continue;
        PeerDevice& d = pr.dev[vol];
        if (!d.uuids_sent && d.repl == ReplState::kEstablished) SendUuids(p, vol);
      }
      continue;
    }
    if (!v.attached || v.disk < DiskState::kInconsistent) continue;
    if (IsSyncTarget(vol)) continue;
    for (int p = 0; p < kMaxNodes; ++p) {
      Peer& pr = peers_[p];
      if (!IsDiskfulPeer(p) || pr.conn != ConnState::kConnected || !pr.handshake_done) continue;
      PeerDevice& d = pr.dev[vol];
      if (d.repl != ReplState::kEstablished || d.uuids_sent) continue;
      // Either our disk is behind an UpToDate peer, or we both are fine but
      // we hold out-of-sync bits towards it (peer-acks, a lost Primary).
      int slot = SlotOf(v, p);
      bool behind = v.disk != DiskState::kUpToDate && d.peer_disk == DiskState::kUpToDate;
      // Two Secondaries that lost their Primary together may both be
      // Outdated with bits towards each other (its last epoch reached one
      // of them only): that needs a round too, or neither can become
      // UpToDate again (found by tandemd's partition test).
      bool equal_behind = v.disk == d.peer_disk && v.disk >= DiskState::kOutdated &&
                          role_ != Role::kPrimary && d.peer_disk != DiskState::kUpToDate &&
                          PrimaryMask() == 0;
      bool bits = (v.disk == DiskState::kUpToDate || equal_behind) &&
                  d.peer_disk >= DiskState::kOutdated && slot >= 0 && static_cast<size_t>(slot) < v.bitmaps.size() &&
                  v.bitmaps[slot].Count() > d.verify_bits &&
                  !(role_ == Role::kPrimary && ShouldSendData(p, vol));
      // Bits must persist a while: acks still in flight clear them quickly.
      if (!bits) {
        d.bits_seen_since = -1;
      } else if (d.bits_seen_since < 0) {
        d.bits_seen_since = now_;
      }
      if (bits && !behind && now_ - d.bits_seen_since < kSec) {
        ArmTimerAt(d.bits_seen_since + kSec);
        continue;
      }
      if (!behind && !bits) continue;
      // Outdated because a Primary is far away: nothing to decide yet.
      bool far = false;
      for (int q = 0; q < kMaxNodes; ++q)
        if (peers_[q].exists && peers_[q].conn == ConnState::kConnected &&
            (peers_[q].primary_mask & ~ConnectedMask() & ~(1ull << self_)))
          far = true;
      if (far) continue;
      if (d.last_rehandshake >= 0 && now_ - d.last_rehandshake < kSec) {
        ArmTimerAt(d.last_rehandshake + kSec);
        continue;
      }
      SendUuids(p, vol);
      break;
    }
  }
}

void ResourceImpl::MaybeUpgradeOutdated() {
  if (role_ == Role::kPrimary || handshaking_ > 0 || twopc_) return;
  if (opts_.quorum != kQuorumOff && !have_quorum_) return;
  for (int p = 0; p < kMaxNodes; ++p) {
    const Peer& pr = peers_[p];
    if (!pr.exists || pr.conn != ConnState::kConnected) continue;
    if (!pr.handshake_done || pr.role == Role::kPrimary || (pr.primary_mask & ~(1ull << p))) return;
  }
  for (size_t vi = 0; vi < volumes_.size(); ++vi) {
    int vol = static_cast<int>(vi);
    Volume& v = volumes_[vol];
    if (!v.attached || (v.disk != DiskState::kOutdated && v.disk != DiskState::kConsistent))
      continue;
    bool any = false, ok = true;
    for (int p = 0; p < kMaxNodes && ok; ++p) {
      const Peer& pr = peers_[p];
      if (!IsDiskfulPeer(p)) continue;
      const PeerDevice& d = pr.dev[vol];
      if (pr.conn != ConnState::kConnected) {
        // Outdated means another node may hold newer data (§2.1). A diskful
        // node outside the partition may be that node (a Primary that wrote
        // on, or a peer that kept up with it) unless we know it is not: its
        // disk was Inconsistent/Outdated when we lost it (kept, §2.3) or its
        // slot says Outdated (§7.3). Consistent is judged as before (no
        // fencing: may_be_up_to_date, §2.4).
        bool known_older = d.peer_disk == DiskState::kInconsistent ||
                           d.peer_disk == DiskState::kOutdated ||
                           (v.sb.peers[p].flags & kMdPeerOutdated) != 0;
        if (v.disk == DiskState::kOutdated && !known_older) ok = false;
        continue;
      }
      // A connected node without a disk (detached after an I/O error) has no
      // data to compare: it is no witness that nothing newer exists.
      if (v.disk == DiskState::kOutdated && d.peer_disk < DiskState::kInconsistent) continue;
      int slot = SlotOf(v, p);
      bool bits =
          slot >= 0 && static_cast<size_t>(slot) < v.bitmaps.size() && v.bitmaps[slot].Count() > 0;
      if (d.repl != ReplState::kEstablished || d.peer_disk > v.disk ||
          (d.peer_uuids.current & ~kUuidPrimaryBit) != (v.sb.current_uuid & ~kUuidPrimaryBit) ||
          bits)
        ok = false;
      any = true;
    }
    // Alone, a Consistent disk is the best data there is (no fencing
    // configured: may_be_up_to_date); Outdated needs a peer that agrees.
    if (!any && v.disk == DiskState::kConsistent) any = true;
    if (ok && any) {
      EmitEvent(std::string("no Primary and no newer data in this partition: ") +
                DiskStateName(v.disk) + " becomes UpToDate");
      SetDisk(vol, DiskState::kUpToDate);
    }
  }
}

// A Secondary in a partition with a Primary it is not directly connected to
// cannot follow that Primary's writes: it is Outdated (§7.3, rule 3).
void ResourceImpl::UpdateFarAwayPrimary() {
  if (role_ == Role::kPrimary) return;
  uint64_t direct = 0, seen = 0;
  for (int p = 0; p < kMaxNodes; ++p) {
    const Peer& pr = peers_[p];
    if (!pr.exists || pr.conn != ConnState::kConnected || !pr.handshake_done) continue;
    direct |= 1ull << p;
    seen |= pr.primary_mask;
  }
  seen &= ~(1ull << self_);
  uint64_t far = seen & ~direct;
  far_confirmed_ &= far;
  if (!far) return;
  // A Primary we were connected to a moment ago may still be named by a peer
  // that has not noticed yet that it is gone. DRBD applies the rule to the
  // result of the lost-peer 2PC, which completes only once every node has
  // answered or lost its own link to the dead Primary; so do we, with a
  // lost-peer query, before outdating ourselves for such a Primary.
  uint64_t recent = 0;
  for (int p = 0; p < kMaxNodes; ++p)
    if ((far & (1ull << p)) && peers_[p].lost_at >= 0 &&
        now_ - peers_[p].lost_at < opts_.twopc_timeout)
      recent |= 1ull << p;
  if (recent & ~far_confirmed_) {
    bool asking = false;
    for (const LostPeerQuery& q : lost_queries_) asking |= q.parent < 0;
    if (!asking) StartLostPeerQuery(std::countr_zero(recent & ~far_confirmed_));
    return;
  }
  for (size_t vol = 0; vol < volumes_.size(); ++vol)
    if (volumes_[vol].disk == DiskState::kUpToDate)
      SetDisk(static_cast<int>(vol), DiskState::kOutdated);
}

// --- lost-peer query ------------------------------------------------------------------
//
// A TwopcPrepare of kind kLostPeer travels the mesh like a 2PC prepare; each
// node answers once all the peers it forwarded to answered or were lost,
// naming the Primaries it is directly connected to at that moment. Nothing is
// committed: the initiator uses the answers as its peers' view of who is
// Primary (docs/replication-protocol.md, "Lost-peer query").

void ResourceImpl::StartLostPeerQuery(int lost) {
  LostPeerQuery q;
  q.tid = (++twopc_seq_ << 5) | static_cast<uint32_t>(self_);
  q.parent = -1;
  q.deadline = now_ + opts_.twopc_timeout;
  TwopcPrepare m;
  m.tid = q.tid;
  m.initiator = static_cast<uint8_t>(self_);
  m.kind = static_cast<uint8_t>(TwopcKind::kLostPeer);
  m.target = static_cast<uint8_t>(lost);
  for (int p = 0; p < kMaxNodes; ++p)
    if (peers_[p].exists && peers_[p].conn == ConnState::kConnected && peers_[p].handshake_done)
      q.waiting |= 1ull << p;
  lost_queries_.push_back(q);
  for (int p = 0; p < kMaxNodes; ++p)
    if (q.waiting & (1ull << p)) Send(p, m);
  LostPeerQueryMaybeDone(lost_queries_.size() - 1);
}

void ResourceImpl::OnLostPeerPrepare(int p, const TwopcPrepare& m) {
  // A Primary tells the mesh it lost us, while our end of the link still
  // looks up (it has not timed out yet): its writes no longer reach us, so
  // the link is dead for us too. Dropping it now lets the far-away-Primary
  // rule outdate us before we could serve or promote stale data (§7.3 rule 3;
  // DRBD's lost-peer 2PC reaches every node of the partition).
  int init = m.initiator;
  if (m.target == self_ && init != self_ && init < kMaxNodes && peers_[init].exists &&
      peers_[init].transport_up && peers_[init].role == Role::kPrimary) {
    EmitEvent(Fmt("%s lost its connection to us: dropping ours", peers_[init].name.c_str()));
    DropConn(init, ConnState::kNetworkFailure);
  }
  for (const LostPeerQuery& q : lost_queries_) {
    if (q.tid != m.tid) continue;
    // Reached us a second way round the mesh: answer for ourselves only.
    TwopcReply r;
    r.tid = m.tid;
    r.vote = static_cast<uint8_t>(TwopcVote::kYes);
    r.reachable = 1ull << self_;
    r.primary = PrimaryMask();
    Send(p, r);
    return;
  }
  if (m.initiator == self_) {
    TwopcReply r;
    r.tid = m.tid;
    r.vote = static_cast<uint8_t>(TwopcVote::kYes);
    r.primary = PrimaryMask();
    Send(p, r);
    return;
  }
  LostPeerQuery q;
  q.tid = m.tid;
  q.parent = p;
  q.deadline = now_ + opts_.twopc_timeout;
  for (int c = 0; c < kMaxNodes; ++c) {
    if (c == p || c == m.initiator || !peers_[c].exists) continue;
    if (peers_[c].conn == ConnState::kConnected && peers_[c].handshake_done) q.waiting |= 1ull << c;
  }
  lost_queries_.push_back(q);
  for (int c = 0; c < kMaxNodes; ++c)
    if (q.waiting & (1ull << c)) Send(c, m);
  LostPeerQueryMaybeDone(lost_queries_.size() - 1);
}

bool ResourceImpl::OnLostPeerReply(int p, const TwopcReply& m) {
  for (size_t i = 0; i < lost_queries_.size(); ++i) {
    LostPeerQuery& q = lost_queries_[i];
    if (q.tid != m.tid) continue;
    if (q.waiting & (1ull << p)) {
      q.waiting &= ~(1ull << p);
      q.primary |= m.primary;
      q.replied[p] = m.primary | (1ull << 63);  // bit 63: answered
      LostPeerQueryMaybeDone(i);
    }
    return true;
  }
  return false;
}

void ResourceImpl::LostPeerQueryMaybeDone(size_t i) {
  if (lost_queries_[i].waiting != 0) return;
  LostPeerQuery q = lost_queries_[i];
  lost_queries_.erase(lost_queries_.begin() + static_cast<long>(i));
  if (q.parent >= 0) {
    if (peers_[q.parent].conn != ConnState::kConnected) return;
    TwopcReply r;
    r.tid = q.tid;
    r.vote = static_cast<uint8_t>(TwopcVote::kYes);
    r.reachable = (1ull << self_) | ConnectedMask();
    r.primary = q.primary | PrimaryMask();
    Send(q.parent, r);
    return;
  }
  // Our peers' answers replace what their last State said; a peer that did
  // not answer in time keeps its last word. What is far away now is settled.
  uint64_t direct = 0;
  for (int p = 0; p < kMaxNodes; ++p) {
    Peer& pr = peers_[p];
    if (!pr.exists || pr.conn != ConnState::kConnected || !pr.handshake_done) continue;
    direct |= 1ull << p;
    if (q.replied[p] & (1ull << 63)) pr.primary_mask &= q.replied[p] & ~(1ull << 63);
  }
  uint64_t seen = 0;
  for (int p = 0; p < kMaxNodes; ++p)
    if (direct & (1ull << p)) seen |= peers_[p].primary_mask;
  far_confirmed_ |= seen & ~direct & ~(1ull << self_);
  dirty_ = true;
}

void ResourceImpl::ExpireLostPeerQueries() {
  for (size_t i = lost_queries_.size(); i-- > 0;) {
    if (lost_queries_[i].deadline > now_) continue;
    lost_queries_[i].waiting = 0;
    LostPeerQueryMaybeDone(i);
  }
}

int ResourceImpl::EnsureSlot(int vol, int p) {
  Volume& v = volumes_[vol];
  if (v.sb.peers[p].bitmap_index >= 0) return v.sb.peers[p].bitmap_index;
  if (!v.attached) return -1;
  uint32_t used = 0;
  for (int n = 0; n < kMaxNodes; ++n) {
    if (v.sb.peers[n].bitmap_index >= 0) used |= 1u << v.sb.peers[n].bitmap_index;
  }
  for (uint32_t i = 0; i < v.sb.max_peers && i < v.bitmaps.size(); ++i) {
    if (used & (1u << i)) continue;
    v.sb.peers[p].bitmap_index = static_cast<int32_t>(i);
    v.sb.peers[p].flags |= kMdNodeExists;
    v.sb.peers[p].bitmap_uuid = 0;
    v.MarkAllOutOfSync(static_cast<int>(i));
    MarkPageDirty(vol, static_cast<int>(i), 0, v.bitmaps[i].size());
    WriteSuperblock(vol, nullptr);
    EmitEvent(Fmt("bitmap slot %u assigned name:%s peer-node-id:%d volume:%u", i,
                  cfg_.name.c_str(), p, v.vnr.value()));
    return static_cast<int>(i);
  }
  return -1;
}

}  // namespace tandem::engine
