// The I/O path: application requests on this node (reads, writes, trims,
// write-zeroes, flushes), writes received from a Primary, epochs and
// barriers, acks, and what a lost connection means for requests in flight
// (drbd-semantics.md §3).
#include <algorithm>

#include "common/check.h"
#include "engine/internal/resource_impl.h"

namespace tandem::engine {

namespace {
bool IsWrite(AppOp op) {
  return op == AppOp::kWrite || op == AppOp::kTrim || op == AppOp::kWriteZeroes;
}
bool Overlaps(uint64_t a_off, uint64_t a_len, uint64_t b_off, uint64_t b_len) {
  return a_off < b_off + b_len && b_off < a_off + a_len;
}
}  // namespace

bool ResourceImpl::WriteAllowed(IoStatus* why) const {
  if (role_ != Role::kPrimary) {
    *why = IoStatus::kNotPrimary;
    return false;
  }
  if (force_io_failures_) {
    *why = IoStatus::kIoError;
    return false;
  }
  return true;
}

void ResourceImpl::Submit(const AppRequest& in) {
  int vol = VolIndex(in.vnr);
  auto fail = [&](IoStatus st) { Emit(Complete{in.id, st, {}}); };
  if (vol < 0) return fail(IoStatus::kInvalid);
  const Volume& v = volumes_[vol];
  if (in.op != AppOp::kFlush) {
    if ((in.offset | in.length) % kSectorSize != 0 || in.length == 0 ||
        in.offset + in.length > v.size_bytes || in.offset + in.length < in.offset)
      return fail(IoStatus::kInvalid);
    if (in.op == AppOp::kWrite && (!in.data || in.data->size() != in.length))
      return fail(IoStatus::kInvalid);
  }
  if (in.op != AppOp::kRead) {
    IoStatus why;
    if (!WriteAllowed(&why)) return fail(why);
  } else if (role_ != Role::kPrimary) {
    // A Secondary serves reads only from its own UpToDate disk while no peer
    // is Primary (ro_open_cond, drbd-semantics.md §1.1).
    if (AnyPrimaryPeer() || v.disk != DiskState::kUpToDate) return fail(IoStatus::kNotPrimary);
  }
  uint64_t seq = ++req_seq_;
  AppReq& r = reqs_[seq];
  r.seq = seq;
  r.started = now_;
  r.req = in;
  r.vol = vol;
  if (in.op != AppOp::kRead && opts_.quorum != kQuorumOff && !have_quorum_) {
    if (opts_.on_no_quorum == OnNoQuorum::kIoError) return CompleteReq(seq, IoStatus::kIoError);
    suspended_.push_back(seq);
    return;
  }
  if (suspended_quorum_ && in.op != AppOp::kRead) {
    suspended_.push_back(seq);
    return;
  }
  if (handshaking_ > 0 && IsWrite(in.op)) {
    frozen_.push_back(seq);
    return;
  }
  StartRequest(r);
  AfterInput();
}

void ResourceImpl::StartRequest(AppReq& r) {
  switch (r.req.op) {
    case AppOp::kRead:
      return IssueRead(r);
    case AppOp::kFlush:
      return IssueFlush(r);
    default:
      break;
  }
  if (!HasUpToDateData(r.vol)) return CompleteReq(r.seq, IoStatus::kIoError);
  Volume& v = volumes_[r.vol];
  if (v.new_uuid_pending && !v.uuid_persisting) {
    // The volumes are one consistency group: their generations move together.
    for (size_t i = 0; i < volumes_.size(); ++i)
      if (volumes_[i].new_uuid_pending && !volumes_[i].uuid_persisting)
        MaybeNewUuidForWrite(static_cast<int>(i));
  }
  if (v.uuid_persisting) {
    v.held_writes.push_back(r.seq);
    return;
  }
  ProceedWrite(r.seq);
}

void ResourceImpl::ProceedWrite(uint64_t seq) {
  auto it = reqs_.find(seq);
  if (it == reqs_.end()) return;
  AppReq& r = it->second;
  Volume& v = volumes_[r.vol];
  if (v.attached && v.disk == DiskState::kNegotiating) {
    // A disk being re-attached must not miss writes: once the handshake
    // decided, its bits and generation must describe it exactly.
    v.negotiation_held.push_back(seq);
    return;
  }
  bool local = v.attached && v.disk >= DiskState::kInconsistent;
  if (!local) return IssueWrite(r);
  // Resync data on its way to these blocks lands first (§8.3).
  if (!v.busy_blocks.empty() && BlocksBusy(r.vol, r.req.offset, r.req.length)) {
    WhenNotBusy(r.vol, r.req.offset, r.req.length, [this, seq] { ProceedWrite(seq); });
    return;
  }
  if (AlTryBeginHot(r.vol, r.req.offset, r.req.length)) {
    r.al_held = true;
    return IssueWrite(r);
  }
  AlBegin(r.vol, r.req.offset, r.req.length, [this, seq] {
    auto it2 = reqs_.find(seq);
    if (it2 == reqs_.end()) return;
    it2->second.al_held = true;
    IssueWrite(it2->second);
  });
}

bool ResourceImpl::ShouldSendData(int p, int vol) const {
  const Peer& pr = peers_[p];
  if (pr.conn != ConnState::kConnected || !pr.handshake_done) return false;
  const PeerDevice& d = pr.dev[vol];
  switch (d.repl) {
    case ReplState::kEstablished:
    case ReplState::kVerifyS:
    case ReplState::kVerifyT:
      return d.peer_disk >= DiskState::kInconsistent && d.peer_disk != DiskState::kOutdated &&
             d.peer_disk != DiskState::kDUnknown;
    case ReplState::kSyncSource:
    case ReplState::kPausedSyncS:
    case ReplState::kSyncTarget:
    case ReplState::kPausedSyncT:
      return d.peer_disk >= DiskState::kInconsistent;
    // We are becoming its SyncTarget: the peer's disk is the good copy and
    // gets every write while the bitmaps are exchanged (drbd_should_do_remote).
    // An out-of-sync notice would leave the write on our own disk only, and
    // the resync from the peer then overwrites it with the older data.
    case ReplState::kStartingSyncT:
      return d.peer_disk == DiskState::kUpToDate;
    case ReplState::kWFBitMapT:
    case ReplState::kWFSyncUUID:
      return d.peer_disk == DiskState::kUpToDate || d.peer_disk == DiskState::kInconsistent;
    default:
      return false;
  }
}

bool ResourceImpl::ShouldSendOutOfSync(int p, int vol) const {
  const Peer& pr = peers_[p];
  if (pr.conn != ConnState::kConnected || !pr.handshake_done) return false;
  const PeerDevice& d = pr.dev[vol];
  if (d.peer_disk <= DiskState::kFailed) return false;
  return true;
}

void ResourceImpl::MarkOutOfSync(int vol, int peer, uint64_t offset, uint64_t length) {
  Volume& v = volumes_[vol];
  int slot = SlotOf(v, peer);
  if (!v.attached || slot < 0 || static_cast<size_t>(slot) >= v.bitmaps.size() || length == 0)
    return;
  uint64_t first = offset / kBlockBytes;
  uint64_t last = (offset + length - 1) / kBlockBytes;
  if (first >= v.bitmaps[slot].size()) return;
  last = std::min(last, v.bitmaps[slot].size() - 1);
  bool tell = v.bitmaps[slot].SetRange(first, last - first + 1) > 0;
  if (tell) MarkPageDirty(vol, slot, first, last - first + 1);
  // A peer that is our SyncTarget drives its resync from its own bitmap:
  // tell it, or it would finish without these blocks. Also when the bits
  // were set already but a resync reply for them, read before this write,
  // is not acknowledged yet: it must not clear them on the target (§8.3).
  const Peer& pr = peers_[peer];
  const PeerDevice& pdv = pr.dev[vol];
  for (uint64_t b = first; !tell && b <= last && !pdv.rs_serving.empty(); ++b)
    tell = pdv.rs_serving.count(b) > 0;
  ReplState rs = pdv.repl;
  if (tell && pr.conn == ConnState::kConnected &&
      (rs == ReplState::kSyncSource || rs == ReplState::kPausedSyncS ||
       rs == ReplState::kWFBitMapS)) {
    OutOfSync o;
    o.vnr = v.vnr.value();
    o.offset = first * kBlockBytes;
    o.length = static_cast<uint32_t>((last - first + 1) * kBlockBytes);
    Send(peer, o);
  }
}

void ResourceImpl::MarkInSync(int vol, int peer, uint64_t offset, uint64_t length) {
  Volume& v = volumes_[vol];
  int slot = SlotOf(v, peer);
  if (!v.attached || slot < 0 || static_cast<size_t>(slot) >= v.bitmaps.size()) return;
  // Only whole blocks become in sync.
  uint64_t first = (offset + kBlockBytes - 1) / kBlockBytes;
  uint64_t end = (offset + length) / kBlockBytes;
  if (end <= first) return;
  end = std::min(end, v.bitmaps[slot].size());
  if (first >= end) return;
  if (v.bitmaps[slot].ClearRange(first, end - first) > 0)
    MarkPageDirty(vol, slot, first, end - first);
}

void ResourceImpl::IssueWrite(AppReq& r) {
  Volume& v = volumes_[r.vol];
  r.submitted = true;
  r.epoch = cur_epoch_;
  ++cur_epoch_writes_;
  dagtag_ += r.req.length / kSectorSize;
  v.app_sectors_since_check += r.req.length / kSectorSize;
  uint32_t flags = r.req.fua ? static_cast<uint32_t>(kDpFua) : 0u;
  DiskOp op = DiskOp::kWrite;
  if (r.req.op == AppOp::kTrim) {
    flags |= kDpTrim;
    op = DiskOp::kTrim;
  } else if (r.req.op == AppOp::kWriteZeroes) {
    flags |= kDpZeroes;
    op = DiskOp::kZeroes;
  }
  const uint64_t seq = r.seq;
  // Our own write makes any resync reply already requested for these blocks
  // stale (we may be a SyncTarget while Primary, §8.3).
  for (int q = 0; q < kMaxNodes; ++q) {
    if (!peers_[q].exists) continue;
    PeerDevice& pd = peers_[q].dev[r.vol];
    if (pd.rs_in_flight.empty()) continue;
    for (uint64_t b = r.req.offset / kBlockBytes;
         b <= (r.req.offset + r.req.length - 1) / kBlockBytes; ++b)
      if (pd.rs_in_flight.count(b)) pd.rs_superseded.insert(b);
  }
  if (v.attached && v.disk >= DiskState::kInconsistent) {
    r.local_pending = true;
    BusyAdd(r.vol, r.req.offset, r.req.length);
    DiskIo io;
    io.vnr = v.vnr;
    io.area = DiskArea::kData;
    io.op = op;
    io.offset = r.req.offset;
    io.length = r.req.length;
    io.fua = r.req.fua;
    io.data = r.req.data;
    SubmitIo(std::move(io), [this, seq](bool ok, SharedBytes) {
      auto it = reqs_.find(seq);
      if (it == reqs_.end()) return;
      AppReq& rr = it->second;
      rr.local_pending = false;
      rr.local_ok = ok;
      BusyRelease(rr.vol, rr.req.offset, rr.req.length);
      if (rr.al_held) {
        rr.al_held = false;
        AlEnd(rr.vol, rr.req.offset, rr.req.length);
      }
      if (!ok) {
        // The write's extent stays in the on-disk AL, so a re-attach resyncs it.
        OnLocalDiskError(rr.vol);
      }
      MaybeComplete(seq);
    });
  }
  uint64_t receivers = 0;
  for (int p = 0; p < kMaxNodes; ++p)
    if (peers_[p].exists && ShouldSendData(p, r.vol)) receivers |= 1ull << p;
  if (receivers) {
    if (epoch_acks_.empty() || epoch_acks_.back().first != cur_epoch_)
      epoch_acks_.emplace_back(cur_epoch_, EpochAcks{});
    epoch_acks_.back().second.sent_to |= receivers;
  }
  if (v.attached && v.disk >= DiskState::kInconsistent) receivers |= 1ull << self_;
  for (int p = 0; p < kMaxNodes; ++p) {
    Peer& pr = peers_[p];
    if (!pr.exists) continue;
    if (receivers & (1ull << p)) {
      Data d;
      d.vnr = v.vnr.value();
      d.id = seq;
      d.offset = r.req.offset;
      d.length = r.req.length;
      d.dagtag = dagtag_;
      d.flags = flags;
      d.epoch = cur_epoch_;
      d.receivers = receivers;
      d.payload = r.req.op == AppOp::kWrite ? r.req.data : nullptr;
      const PeerDevice& pd = pr.dev[r.vol];
      bool syncing = pd.repl == ReplState::kSyncSource || pd.repl == ReplState::kPausedSyncS;
      bool want_ack = opts_.protocol == WireProtocol::kC || syncing;
      if (syncing) d.flags |= kDpMaySetInSync;
      if (want_ack) {
        d.flags |= kDpWantAck;
        r.peers_pending |= 1ull << p;
      } else {
        r.peer_ok = true;  // protocol A: handed over to the network
      }
      pr.tl.push_back(EpochRange{cur_epoch_, TlRange{r.vol, r.req.offset, r.req.length}});
      pr.writes_in_cur_epoch = true;
      Send(p, std::move(d));
    } else if (!pr.diskless) {
      MarkOutOfSync(r.vol, p, r.req.offset, r.req.length);
      if (ShouldSendOutOfSync(p, r.vol)) {
        OutOfSync o;
        o.vnr = v.vnr.value();
        o.offset = r.req.offset;
        o.length = r.req.length;
        Send(p, o);
      }
    }
  }
  if (cur_epoch_writes_ >= opts_.max_epoch_size) CloseEpoch();
  MaybeComplete(seq);
}

void ResourceImpl::CloseEpoch() {
  if (cur_epoch_writes_ == 0) return;
  if (!epoch_acks_.empty() && epoch_acks_.back().first == cur_epoch_)
    epoch_acks_.back().second.closed = true;
  for (int p = 0; p < kMaxNodes; ++p) {
    Peer& pr = peers_[p];
    if (!pr.exists || !pr.writes_in_cur_epoch) continue;
    pr.writes_in_cur_epoch = false;
    pr.last_epoch_sent = cur_epoch_;
    if (pr.conn == ConnState::kConnected) Send(p, Barrier{cur_epoch_});
  }
  ++cur_epoch_;
  cur_epoch_writes_ = 0;
}

void ResourceImpl::IssueFlush(AppReq& r) {
  if (!HasUpToDateData(r.vol)) return CompleteReq(r.seq, IoStatus::kIoError);
  CloseEpoch();
  r.submitted = true;
  if (!cfg_.TEST_broken_flush) {
    for (int p = 0; p < kMaxNodes; ++p) {
      Peer& pr = peers_[p];
      if (!pr.exists || pr.conn != ConnState::kConnected) continue;
      if (pr.last_epoch_sent > pr.last_barrier_acked) {
        r.barrier_wait |= 1ull << p;
        r.barrier_epoch[p] = pr.last_epoch_sent;
      }
    }
    if (r.barrier_wait) flushes_.push_back(r.seq);
  }
  Volume& v = volumes_[r.vol];
  const uint64_t seq = r.seq;
  if (v.attached && v.disk >= DiskState::kInconsistent) {
    r.local_pending = true;
    DiskIo io;
    io.vnr = v.vnr;
    io.op = DiskOp::kFlush;
    SubmitIo(std::move(io), [this, seq](bool ok, SharedBytes) {
      auto it = reqs_.find(seq);
      if (it == reqs_.end()) return;
      it->second.local_pending = false;
      it->second.local_ok = ok;
      if (!ok) OnLocalDiskError(it->second.vol);
      MaybeComplete(seq);
    });
  } else {
    r.peer_ok = true;
  }
  MaybeComplete(seq);
}

void ResourceImpl::MaybeComplete(uint64_t seq) {
  auto it = reqs_.find(seq);
  if (it == reqs_.end()) return;
  AppReq& r = it->second;
  if (r.local_pending || r.peers_pending || r.barrier_wait || !r.submitted) return;
  if (r.req.op == AppOp::kRead) return;  // reads complete in their own callbacks
  bool ok = r.local_ok || r.peer_ok;
  if (r.req.op == AppOp::kFlush && !ok) ok = HasUpToDateData(r.vol);
  IoStatus st = ok ? IoStatus::kOk : IoStatus::kIoError;
  if (ok && r.req.op != AppOp::kRead && opts_.quorum != kQuorumOff && !have_quorum_)
    st = IoStatus::kIoError;
  // Any write of the current epoch completing closes the epoch: later writes
  // may depend on it and must land in a later epoch (§3.2).
  if (IsWrite(r.req.op) && r.epoch == cur_epoch_) CloseEpoch();
  CompleteReq(seq, st);
}

void ResourceImpl::CompleteReq(uint64_t seq, IoStatus st, SharedBytes data) {
  auto it = reqs_.find(seq);
  if (it == reqs_.end()) return;
  AppReq& r = it->second;
  if (r.al_held) AlEnd(r.vol, r.req.offset, r.req.length);
  if (r.internal_done) {
    auto fn = std::move(r.internal_done);
    reqs_.erase(it);
    fn(st);
    return;
  }
  Emit(Complete{r.req.id, st, std::move(data)});
  reqs_.erase(it);
}

// --- reads -------------------------------------------------------------------

void ResourceImpl::IssueRead(AppReq& r) {
  Volume& v = volumes_[r.vol];
  r.submitted = true;
  const uint64_t seq = r.seq;
  if (v.attached && v.disk == DiskState::kUpToDate) {
    ReadLocal(r.vol, r.req.offset, r.req.length, [this, seq](bool ok, SharedBytes data) {
      auto it = reqs_.find(seq);
      if (it == reqs_.end()) return;
      if (ok) return CompleteReq(seq, IoStatus::kOk, std::move(data));
      // A failed local read is retried on a peer (§3.1).
      OnLocalDiskError(it->second.vol);
      IssueRemoteRead(it->second);
    });
    return;
  }
  IssueRemoteRead(r);
}

void ResourceImpl::IssueRemoteRead(AppReq& r) {
  for (int p = 0; p < kMaxNodes; ++p) {
    Peer& pr = peers_[p];
    if (!pr.exists || pr.conn != ConnState::kConnected || !pr.handshake_done) continue;
    if (r.tried_peers & (1ull << p)) continue;
    if (pr.dev[r.vol].peer_disk != DiskState::kUpToDate) continue;
    r.tried_peers |= 1ull << p;
    r.read_peer = p;
    pr.reads[r.seq] = r.seq;
    ReadRequest rq;
    rq.vnr = volumes_[r.vol].vnr.value();
    rq.id = r.seq;
    rq.offset = r.req.offset;
    rq.length = r.req.length;
    Send(p, rq);
    return;
  }
  CompleteReq(r.seq, IoStatus::kIoError);
}

void ResourceImpl::OnReadRequest(int peer, const ReadRequest& m) {
  int vol = VolIndex(VolumeNr(m.vnr));
  auto reply_fail = [&] {
    ReadReply rr;
    rr.vnr = m.vnr;
    rr.id = m.id;
    rr.ok = 0;
    Send(peer, rr);
  };
  if (vol < 0) return reply_fail();
  Volume& v = volumes_[vol];
  if (!v.attached || v.disk != DiskState::kUpToDate || m.offset + m.length > v.size_bytes)
    return reply_fail();
  uint32_t gen = peers_[peer].conn_gen;
  uint16_t vnr = m.vnr;
  uint64_t id = m.id;
  ReadLocal(vol, m.offset, m.length, [this, peer, gen, vnr, id, vol](bool ok, SharedBytes data) {
    if (!ok) OnLocalDiskError(vol);
    if (peers_[peer].conn_gen != gen) return;
    ReadReply rr;
    rr.vnr = vnr;
    rr.id = id;
    rr.ok = ok ? 1 : 0;
    rr.payload = ok ? std::move(data) : nullptr;
    Send(peer, std::move(rr));
  });
}

void ResourceImpl::OnReadReply(int peer, const ReadReply& m) {
  Peer& pr = peers_[peer];
  auto it = pr.reads.find(m.id);
  if (it == pr.reads.end()) return;
  uint64_t seq = it->second;
  pr.reads.erase(it);
  auto rit = reqs_.find(seq);
  if (rit == reqs_.end()) return;
  if (m.ok && m.payload && m.payload->size() == rit->second.req.length)
    return CompleteReq(seq, IoStatus::kOk, m.payload);
  IssueRemoteRead(rit->second);
}

// --- the receiving side of replication ----------------------------------------

void ResourceImpl::OnPeerData(int peer, Data d) {
  Peer& pr = peers_[peer];
  if (!pr.rx_barriers.empty() || !pr.rx_held.empty()) {
    pr.rx_held.push_back(std::move(d));
    return;
  }
  ReceivePeerWrite(peer, std::move(d));
}

bool ResourceImpl::OverlapsLocalWrite(int vol, uint64_t offset, uint32_t length) const {
  for (const auto& [seq, r] : reqs_) {
    if (r.vol == vol && IsWrite(r.req.op) && r.submitted &&
        Overlaps(r.req.offset, r.req.length, offset, length))
      return true;
  }
  return false;
}

void ResourceImpl::ReceivePeerWrite(int peer, Data d) {
  Peer& pr = peers_[peer];
  int vol = VolIndex(VolumeNr(d.vnr));
  pr.last_dagtag = std::max(pr.last_dagtag, d.dagtag);
  pr.rx_epoch_size[d.epoch]++;
  RetryWaitingResyncRequests();
  // A write this node cannot store is answered under every protocol: without
  // the negative ack a protocol A sender would count it replicated (§3.5).
  auto neg = [&] {
    WriteAck a;
    a.vnr = d.vnr;
    a.id = d.id;
    a.offset = d.offset;
    a.length = d.length;
    a.kind = static_cast<uint8_t>(AckKind::kNeg);
    Send(peer, a);
  };
  if (vol < 0) return neg();
  Volume& v = volumes_[vol];
  if (!v.attached || v.disk < DiskState::kInconsistent || d.offset + d.length > v.size_bytes)
    return neg();
  // Two Primaries writing the same blocks at once: detected, not resolved.
  // The connection drops and the next handshake resyncs (§1.5).
  if (role_ == Role::kPrimary && OverlapsLocalWrite(vol, d.offset, d.length)) {
    EmitEvent("concurrent writes detected: dropping connection to " + pr.name);
    return DropConn(peer, ConnState::kProtocolError);
  }
  // A resync request in flight for these blocks is now stale (§8.3).
  for (int q = 0; q < kMaxNodes; ++q)
    if (peers_[q].exists) peers_[q].dev[vol].SupersedeRequested(d.offset, d.length);
  // Every diskful node the writer did not send the payload to (its own
  // detached disk included) misses this write.
  for (int q = 0; q < kMaxNodes; ++q) {
    if (q == self_ || !IsDiskfulPeer(q)) continue;
    if (!(d.receivers & (1ull << q))) MarkOutOfSync(vol, q, d.offset, d.length);
  }
  pr.rx_epoch_active[d.epoch]++;
  pr.rx_dagtag = std::max(pr.rx_dagtag, d.dagtag);
  pr.rx_unconfirmed.push_back(EpochRange{d.epoch, TlRange{vol, d.offset, d.length}});
  uint32_t gen = pr.conn_gen;
  // Resync data or an earlier write to these blocks is still on its way to
  // the disk: keep the order (§8.3).
  const uint64_t off = d.offset;
  const uint32_t len = d.length;
  WhenNotBusy(vol, off, len, [this, peer, vol, gen, d = std::move(d)]() mutable {
    BusyAdd(vol, d.offset, d.length);
    SubmitPeerWrite(peer, vol, gen, std::move(d));
  });
}

void ResourceImpl::SubmitPeerWrite(int peer, int vol, uint32_t gen, Data d) {
  const uint64_t off = d.offset;
  const uint32_t len = d.length;
  auto submit = [this, peer, vol, gen, d = std::move(d)]() mutable {
    Volume& vv = volumes_[vol];
    if (!vv.attached || vv.disk < DiskState::kInconsistent) {
      AlEnd(vol, d.offset, d.length);
      BusyRelease(vol, d.offset, d.length);
      if (peers_[peer].conn_gen == gen) PeerWriteDone(peer, vol, d, false);
      return;
    }
    DiskIo io;
    io.vnr = vv.vnr;
    io.op = (d.flags & kDpTrim)     ? DiskOp::kTrim
            : (d.flags & kDpZeroes) ? DiskOp::kZeroes
                                    : DiskOp::kWrite;
    io.offset = d.offset;
    io.length = d.length;
    io.fua = (d.flags & kDpFua) != 0;
    io.data = d.payload;
    SubmitIo(std::move(io), [this, peer, vol, gen, d](bool ok, SharedBytes) {
      AlEnd(vol, d.offset, d.length);
      BusyRelease(vol, d.offset, d.length);
      if (!ok) OnLocalDiskError(vol);
      if (peers_[peer].conn_gen != gen) return;
      PeerWriteDone(peer, vol, d, ok);
    });
  };
  if (AlTryBeginHot(vol, off, len)) {
    submit();
  } else {
    AlBegin(vol, off, len, std::move(submit));
  }
}

void ResourceImpl::PeerWriteDone(int peer, int vol, const Data& d, bool ok) {
  Peer& pr = peers_[peer];
  auto it = pr.rx_epoch_active.find(d.epoch);
  if (it != pr.rx_epoch_active.end() && it->second > 0) --it->second;
  ++pr.rx_done;
  AckKind kind = ok ? AckKind::kWritten : AckKind::kNeg;
  if (ok && (d.flags & kDpMaySetInSync)) {
    MarkInSync(vol, peer, d.offset, d.length);
    kind = AckKind::kWrittenInSync;
  }
  if ((d.flags & kDpWantAck) || kind == AckKind::kNeg) {
    WriteAck a;
    a.vnr = d.vnr;
    a.id = d.id;
    a.offset = d.offset;
    a.length = d.length;
    a.kind = static_cast<uint8_t>(kind);
    Send(peer, a);
  }
  MaybeFinishBarrier(peer);
  AfterInput();
}

void ResourceImpl::OnBarrier(int peer, const Barrier& b) {
  Peer& pr = peers_[peer];
  if (!pr.rx_barriers.empty() || !pr.rx_held.empty()) {
    pr.rx_held.push_back(b);
    return;
  }
  pr.rx_barriers.push_back(b.epoch);
  MaybeFinishBarrier(peer);
}

// Epoch e is stable when all its writes completed and a flush submitted after
// the last of them completed has completed; only then is the barrier acked and
// later data released (§3.2). The flush is started as soon as no write of the
// peer is in flight, barrier or not, so the flush a barrier needs is often done
// or under way when the barrier arrives (docs/architecture.md).
void ResourceImpl::MaybeFinishBarrier(int peer) {
  Peer& pr = peers_[peer];
  while (!pr.rx_barriers.empty()) {
    uint32_t e = pr.rx_barriers.front();
    for (auto& [epoch, active] : pr.rx_epoch_active)
      if (epoch <= e && active > 0) return;
    // Data behind the barrier is held: every completed write is of epoch <= e.
    if (opts_.disk_flushes && pr.rx_flushed < pr.rx_done) {
      // A flush submitted before the last write completed does not cover
      // it: start one that does, without waiting for the older one.
      if (pr.rx_flush_submitted >= pr.rx_done || StartRxFlush(peer)) return;
      continue;
    }
    uint32_t size = 0;
    for (auto it = pr.rx_epoch_size.begin(); it != pr.rx_epoch_size.end();) {
      if (it->first > e) break;
      size += it->second;
      it = pr.rx_epoch_size.erase(it);
    }
    for (auto it = pr.rx_epoch_active.begin(); it != pr.rx_epoch_active.end();) {
      if (it->first > e) break;
      it = pr.rx_epoch_active.erase(it);
    }
    pr.rx_barriers.pop_front();
    Send(peer, BarrierAck{e, size});
    // Release what waited behind the barrier, up to the next barrier.
    while (pr.rx_barriers.empty() && !pr.rx_held.empty()) {
      Message m = std::move(pr.rx_held.front());
      pr.rx_held.pop_front();
      if (auto* dd = std::get_if<Data>(&m)) {
        ReceivePeerWrite(peer, std::move(*dd));
      } else if (auto* bb = std::get_if<Barrier>(&m)) {
        pr.rx_barriers.push_back(bb->epoch);
      }
    }
  }
  // No barrier waiting: flush ahead once the peer's writes have all landed,
  // one speculative flush at a time.
  if (!opts_.disk_flushes || pr.rx_flush_submitted > pr.rx_flushed || pr.rx_flushed >= pr.rx_done)
    return;
  for (auto& [epoch, active] : pr.rx_epoch_active)
    if (active > 0) return;
  StartRxFlush(peer);
}

bool ResourceImpl::StartRxFlush(int peer) {
  Peer& pr = peers_[peer];
  const uint64_t mark = pr.rx_done;
  const uint32_t gen = pr.conn_gen;
  auto left = std::make_shared<int>(0);
  auto finish = [this, peer, gen, mark, left] {
    if (--*left > 0) return;
    Peer& p2 = peers_[peer];
    if (p2.conn_gen != gen) return;
    p2.rx_flushed = std::max(p2.rx_flushed, mark);
    MaybeFinishBarrier(peer);
    AfterInput();
  };
  for (size_t vol = 0; vol < volumes_.size(); ++vol) {
    if (!volumes_[vol].attached || volumes_[vol].disk < DiskState::kInconsistent) continue;
    ++*left;
  }
  if (*left == 0) {
    pr.rx_flush_submitted = pr.rx_flushed = mark;
    return false;
  }
  pr.rx_flush_submitted = mark;
  for (size_t vol = 0; vol < volumes_.size(); ++vol) {
    if (!volumes_[vol].attached || volumes_[vol].disk < DiskState::kInconsistent) continue;
    DiskIo io;
    io.vnr = volumes_[vol].vnr;
    io.op = DiskOp::kFlush;
    int vi = static_cast<int>(vol);
    SubmitIo(std::move(io), [this, vi, finish](bool ok, SharedBytes) {
      if (!ok) OnLocalDiskError(vi);
      finish();
    });
  }
  return true;
}

void ResourceImpl::OnBarrierAck(int peer, const BarrierAck& a) {
  Peer& pr = peers_[peer];
  // The receiver counts the writes it got in the acked epochs; fewer than we
  // sent means some never arrived, and acking them would leave them in sync
  // (DRBD: "BAD! BarrierAck received with n_writes=..."). The connection
  // drops and every write not yet acked becomes out of sync.
  uint32_t sent = 0;
  for (const EpochRange& er : pr.tl) {
    if (er.epoch > a.epoch) break;
    ++sent;
  }
  if (sent != a.set_size) {
    EmitEvent(
        Fmt("BarrierAck for epoch %u counts %u writes, %u were sent: dropping the "
            "connection to %s",
            a.epoch, a.set_size, sent, pr.name.c_str()));
    return DropConn(peer, ConnState::kProtocolError);
  }
  pr.last_barrier_acked = std::max(pr.last_barrier_acked, a.epoch);
  for (auto& [e, ea] : epoch_acks_) {
    if (e > a.epoch) break;
    if (ea.sent_to & (1ull << peer)) ea.acked |= 1ull << peer;
  }
  FlushPeerAcks(false);
  while (!pr.tl.empty() && pr.tl.front().epoch <= a.epoch) pr.tl.pop_front();
  for (size_t i = 0; i < flushes_.size();) {
    auto it = reqs_.find(flushes_[i]);
    if (it == reqs_.end()) {
      flushes_.erase(flushes_.begin() + static_cast<long>(i));
      continue;
    }
    AppReq& r = it->second;
    if ((r.barrier_wait & (1ull << peer)) && r.barrier_epoch[peer] <= a.epoch) {
      r.barrier_wait &= ~(1ull << peer);
      r.peer_ok = true;
    }
    uint64_t seq = r.seq;
    if (r.barrier_wait == 0) {
      flushes_.erase(flushes_.begin() + static_cast<long>(i));
      MaybeComplete(seq);
      continue;
    }
    ++i;
  }
}

void ResourceImpl::OnWriteAck(int peer, const WriteAck& a) {
  auto it = reqs_.find(a.id);
  int vol = VolIndex(VolumeNr(a.vnr));
  if (vol >= 0 && static_cast<AckKind>(a.kind) == AckKind::kNeg) {
    MarkOutOfSync(vol, peer, a.offset, a.length);
  } else if (vol >= 0 && static_cast<AckKind>(a.kind) == AckKind::kWrittenInSync) {
    MarkInSync(vol, peer, a.offset, a.length);
  }
  if (it == reqs_.end()) return;
  AppReq& r = it->second;
  if (!(r.peers_pending & (1ull << peer))) return;
  r.peers_pending &= ~(1ull << peer);
  if (static_cast<AckKind>(a.kind) != AckKind::kNeg) r.peer_ok = true;
  MaybeComplete(a.id);
}

// Peer-acks (§3.6): once every node an epoch went to acknowledged it or was
// lost, tell the nodes holding it who is missing it. Complete epochs are
// acknowledged in batches of 64 so the hot path stays cheap.
void ResourceImpl::FlushPeerAcks(bool force_clean) {
  while (!epoch_acks_.empty()) {
    const EpochAcks& ea = epoch_acks_.front().second;
    if (!ea.closed || (ea.sent_to & ~(ea.acked | ea.lost)) != 0) break;
    uint32_t e = epoch_acks_.front().first;
    if (ea.lost) {
      PeerAck m{e, ea.sent_to, ea.acked};
      for (int p = 0; p < kMaxNodes; ++p)
        if ((ea.acked & (1ull << p)) && peers_[p].conn == ConnState::kConnected) Send(p, m);
    }
    clean_final_upto_ = e;
    epoch_acks_.pop_front();
  }
  if (clean_final_upto_ > clean_acked_sent_ &&
      (force_clean || clean_final_upto_ - clean_acked_sent_ >= 64)) {
    PeerAck m{clean_final_upto_, 0, 0};
    for (int p = 0; p < kMaxNodes; ++p)
      if (peers_[p].exists && peers_[p].conn == ConnState::kConnected && peers_[p].handshake_done)
        Send(p, m);
    clean_acked_sent_ = clean_final_upto_;
  }
}

void ResourceImpl::OnPeerAck(int peer, const PeerAck& m) {
  auto& un = peers_[peer].rx_unconfirmed;
  if (m.sent_to == 0) {
    while (!un.empty() && un.front().epoch <= m.epoch) un.pop_front();
    return;
  }
  uint64_t missing = m.sent_to & ~m.acked;
  for (const EpochRange& er : un) {
    if (er.epoch != m.epoch) continue;
    for (int q = 0; q < kMaxNodes; ++q)
      if (q != self_ && (missing & (1ull << q)) && IsDiskfulPeer(q))
        MarkOutOfSync(er.range.vol, q, er.range.offset, er.range.length);
  }
  un.erase(std::remove_if(un.begin(), un.end(),
                          [&](const EpochRange& er) { return er.epoch == m.epoch; }),
           un.end());
}

// The Primary is gone before it told us who got its last writes: under
// protocol C an acknowledged write is on every receiver, so marking these
// blocks towards everyone and resyncing in either direction is safe.
void ResourceImpl::UnconfirmedTowardsOthers(int peer) {
  auto& un = peers_[peer].rx_unconfirmed;
  for (const EpochRange& er : un)
    for (int q = 0; q < kMaxNodes; ++q) {
      if (q == peer || q == self_ || !IsDiskfulPeer(q)) continue;
      MarkOutOfSync(er.range.vol, q, er.range.offset, er.range.length);
    }
  un.clear();
}

// A connection went away: every write it did not confirm with a barrier ack
// is out of sync towards that peer, even if a write ack came (§3.2).
void ResourceImpl::ConnectionLostWrites(int peer) {
  Peer& pr = peers_[peer];
  for (const EpochRange& er : pr.tl)
    MarkOutOfSync(er.range.vol, peer, er.range.offset, er.range.length);
  pr.tl.clear();
  pr.writes_in_cur_epoch = false;
  for (auto& [e, ea] : epoch_acks_)
    if ((ea.sent_to & (1ull << peer)) && !(ea.acked & (1ull << peer))) ea.lost |= 1ull << peer;
  UnconfirmedTowardsOthers(peer);
  pr.last_barrier_acked = pr.last_epoch_sent;
  std::vector<uint64_t> touched;
  for (auto& [seq, r] : reqs_) {
    if (r.peers_pending & (1ull << peer)) {
      r.peers_pending &= ~(1ull << peer);
      touched.push_back(seq);
    }
    if (r.barrier_wait & (1ull << peer)) {
      r.barrier_wait &= ~(1ull << peer);
      touched.push_back(seq);
    }
  }
  std::vector<uint64_t> reads;
  for (auto& [id, seq] : pr.reads) reads.push_back(seq);
  pr.reads.clear();
  pr.rx_epoch_active.clear();
  pr.rx_epoch_size.clear();
  pr.rx_barriers.clear();
  pr.rx_held.clear();
  pr.rx_done = pr.rx_flush_submitted = pr.rx_flushed = 0;
  pr.rs_waiting.clear();
  std::sort(touched.begin(), touched.end());
  for (uint64_t seq : touched) MaybeComplete(seq);
  for (uint64_t seq : reads) {
    auto it = reqs_.find(seq);
    if (it != reqs_.end()) IssueRemoteRead(it->second);
  }
}

// Detach on I/O error (on-io-error detach): Failed, then Diskless; I/O goes
// on through the peers (§2.4). The metadata stays "unclean", so a re-attach
// applies the AL and resyncs what this node missed.
void ResourceImpl::OnLocalDiskError(int vol) {
  Volume& v = volumes_[vol];
  if (!v.attached) return;
  EmitEvent("local disk I/O error: detaching volume " + std::to_string(v.vnr.value()));
  v.attached = false;
  AbortGrow(vol, "local disk I/O error");
  SetDisk(vol, DiskState::kFailed);
  // Requests completed below must see quorum as it is without this disk.
  UpdateQuorum();
  // A Primary whose own disk failed starts a new generation at its next
  // write; its peers persist it (§5.2).
  if (role_ == Role::kPrimary) {
    v.new_uuid_pending = true;
    v.lost_disk = true;
    // At once, not at the next write: the write that failed here completed on
    // the peers, and a re-attach must find our disk a generation behind.
    // Peers must learn that our disk is gone before the new generation
    // arrives, so they remember the old one for it.
    Sanitize();
    BroadcastState();
    if (!v.uuid_persisting) MaybeNewUuidForWrite(vol);
  }
  // Requests waiting for AL transactions or metadata on this disk go on without it.
  auto waiters = std::move(v.al_waiters);
  v.al_waiters.clear();
  v.al_want.clear();
  v.al_writing = false;
  v.al_pending.clear();
  for (auto& w : waiters) w();
  auto sbw = std::move(v.sb_waiters);
  v.sb_waiters.clear();
  v.sb_writing = false;
  for (auto& w : sbw) w();
}

void ResourceImpl::FailIoNoQuorum() {
  auto held = std::move(suspended_);
  suspended_.clear();
  suspended_quorum_ = false;
  dirty_ = true;
  for (uint64_t seq : held) CompleteReq(seq, IoStatus::kIoError);
}

void ResourceImpl::ReleaseFrozenWrites() {
  if (handshaking_ != 0 || frozen_.empty()) return;
  auto held = std::move(frozen_);
  frozen_.clear();
  for (uint64_t seq : held) {
    auto it = reqs_.find(seq);
    if (it != reqs_.end()) StartRequest(it->second);
  }
}

void ResourceImpl::ResumeSuspended() {
  auto held = std::move(suspended_);
  suspended_.clear();
  for (uint64_t seq : held) {
    auto it = reqs_.find(seq);
    if (it != reqs_.end()) StartRequest(it->second);
  }
}

}  // namespace tandem::engine
