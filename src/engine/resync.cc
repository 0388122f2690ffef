// Resync and online verify (drbd-semantics.md §8): the bitmap exchange with
// OR-merge, the SyncTarget-driven requests paced by the rate controller,
// checksum-based resync, resync data that never overwrites newer application
// data, completion with UUID adoption, and verify.
#include <algorithm>
#include <cstdio>

#include "common/check.h"
#include "engine/internal/resource_impl.h"

namespace tandem::engine {

namespace {
constexpr uint64_t kMaxRequestsPerStep = 2048;
// Adjacent out-of-sync blocks travel in one request of up to 128 KiB
// (docs/replication-protocol.md, ResyncRequest).
constexpr uint64_t kMaxBlocksPerRequest = 32;
constexpr uint64_t kVerifyPerStep = 512;
}  // namespace

BitmapMsg ResourceImpl::MakeBitmapMsg(int p, int vol, uint8_t phase) const {
  const Volume& v = volumes_[vol];
  const Bitmap& bm = v.bitmaps[SlotOf(v, p)];
  BitmapMsg m;
  m.vnr = v.vnr.value();
  m.phase = phase;
  m.bits = bm.size();
  m.encoded = bm.EncodeCompact();
  return m;
}

bool ResourceImpl::IsSyncTarget(int vol) const {
  for (int p = 0; p < kMaxNodes; ++p) {
    if (!peers_[p].exists) continue;
    ReplState r = peers_[p].dev[vol].repl;
    if (r == ReplState::kSyncTarget || r == ReplState::kWFBitMapT || r == ReplState::kPausedSyncT)
      return true;
  }
  return false;
}

void ResourceImpl::StartBitmapExchange(int p, int vol, BitmapPrep prep, int other, bool full) {
  Volume& v = volumes_[vol];
  PeerDevice& d = peers_[p].dev[vol];
  int slot = SlotOf(v, p);
  if (!v.attached || slot < 0) {
    SetRepl(p, vol, ReplState::kEstablished);
    return;
  }
  Bitmap& bm = v.bitmaps[slot];
  if (prep == BitmapPrep::kSetAll) {
    v.MarkAllOutOfSync(slot);
  } else if (prep == BitmapPrep::kCopyFromOther) {
    int os = other >= 0 ? SlotOf(v, other) : -1;
    if (os >= 0 && v.sb.peers[other].bitmap_uuid != 0) {
      bm.Or(v.bitmaps[os]);
    } else {
      v.MarkAllOutOfSync(slot);
    }
  }
  MarkPageDirty(vol, slot, 0, bm.size());
  d.rs_full = full || prep == BitmapPrep::kSetAll;
  // An interrupted full sync resumes from the bitmap instead of restarting:
  // remember which generation the bits are relative to (§5.3).
  uint64_t peer_cur = d.peer_uuids.current & ~kUuidPrimaryBit;
  if (d.rs_full && peer_cur != 0 && peer_cur != kUuidJustCreated)
    v.sb.peers[p].bitmap_uuid = peer_cur;
  if (d.rs_full && (peer_cur == kUuidJustCreated || peer_cur == 0) &&
      v.sb.peers[p].bitmap_uuid == 0)
    v.sb.peers[p].bitmap_uuid = v.sb.current_uuid;
  SetRepl(p, vol, ReplState::kWFBitMapS);
  uint32_t gen = peers_[p].conn_gen;
  WriteSuperblock(vol, nullptr);
  // The bits must be durable before the exchange lets the target clear any.
  WriteDirtyBitmapPages(vol, [this, p, vol, gen] {
    if (peers_[p].conn_gen != gen || peers_[p].dev[vol].repl != ReplState::kWFBitMapS) return;
    Volume& vv = volumes_[vol];
    int s = SlotOf(vv, p);
    if (!vv.attached || s < 0) return;
    Send(p, MakeBitmapMsg(p, vol, 0));
  });
}

void ResourceImpl::OnBitmap(int p, const BitmapMsg& m) {
  int vol = VolIndex(VolumeNr(m.vnr));
  if (vol < 0) return;
  Volume& v = volumes_[vol];
  int slot = SlotOf(v, p);
  if (!v.attached || slot < 0) return;
  // The peer's bitmap covers its own backing device, which may be smaller or
  // larger than ours (a grow that one side has done): only the common part
  // means anything to both.
  constexpr uint64_t kMaxPeerBits = uint64_t{1} << 33;  // a 32 TiB backing device
  if (m.bits == 0 || m.bits > kMaxPeerBits) {
    EmitEvent(Fmt("bad bitmap from %s: %llu bits", peers_[p].name.c_str(),
                  static_cast<unsigned long long>(m.bits)));
    DropConn(p, ConnState::kProtocolError);
    return;
  }
  auto bm = Bitmap::DecodeCompact(m.encoded, m.bits);
  if (!bm.ok()) {
    EmitEvent("bad bitmap from " + peers_[p].name + ": " + bm.error().message);
    DropConn(p, ConnState::kProtocolError);
    return;
  }
  if (bm->size() != v.bitmaps[slot].size()) bm->Resize(v.bitmaps[slot].size());
  uint64_t before = v.bitmaps[slot].Count();
  v.bitmaps[slot].Or(*bm);
  if (v.bitmaps[slot].Count() != before) MarkPageDirty(vol, slot, 0, v.bitmaps[slot].size());
  PeerDevice& d = peers_[p].dev[vol];
  switch (m.phase) {
    case 0: {  // the source opens: I am the target
      if (role_ == Role::kPrimary && !opts_.allow_two_primaries && v.disk == DiskState::kUpToDate) {
        EmitEvent("refusing to become SyncTarget while Primary");
        DropConn(p, ConnState::kProtocolError);
        return;
      }
      if (d.repl != ReplState::kWFBitMapT) SetRepl(p, vol, ReplState::kWFBitMapT);
      uint32_t gen = peers_[p].conn_gen;
      WriteDirtyBitmapPages(vol, [this, p, vol, gen] {
        if (peers_[p].conn_gen != gen || peers_[p].dev[vol].repl != ReplState::kWFBitMapT) return;
        Volume& vv = volumes_[vol];
        int s = SlotOf(vv, p);
        if (!vv.attached || s < 0) return;
        Send(p, MakeBitmapMsg(p, vol, 1));
        BeginSyncTarget(p, vol);
        AfterInput();
      });
      break;
    }
    case 1:  // the target's merged answer: I am the source
      if (d.repl == ReplState::kWFBitMapS) BeginSyncSource(p, vol);
      break;
    case 2:  // the peer asks to be target (invalidate)
      if (v.disk == DiskState::kUpToDate) StartBitmapExchange(p, vol, BitmapPrep::kUse, -1, true);
      break;
    default:
      DropConn(p, ConnState::kProtocolError);
  }
}

void ResourceImpl::BeginSyncSource(int p, int vol) {
  PeerDevice& d = peers_[p].dev[vol];
  int slot = SlotOf(volumes_[vol], p);
  d.rs_total = slot >= 0 ? volumes_[vol].bitmaps[slot].Count() : 0;
  d.rs_done = 0;
  d.rs_serving.clear();
  SetRepl(p, vol, ReplState::kSyncSource);
  EmitEvent(
      Fmt("resync-start name:%s peer-node-id:%d volume:%u role:SyncSource out-of-sync-kib:%llu",
          cfg_.name.c_str(), p, volumes_[vol].vnr.value(),
          static_cast<unsigned long long>(d.rs_total * 4)));
}

void ResourceImpl::BeginSyncTarget(int p, int vol) {
  PeerDevice& d = peers_[p].dev[vol];
  Volume& v = volumes_[vol];
  int slot = SlotOf(v, p);
  d.rs_total = slot >= 0 ? v.bitmaps[slot].Count() : 0;
  d.rs_done = 0;
  d.rs_cursor = 0;
  d.rs_in_flight.clear();
  d.rs_superseded.clear();
  d.rs_sectors_in = 0;
  d.rate.emplace(opts_);
  // One SyncTarget role per volume at a time; others wait (PausedSyncT).
  bool other_active = false;
  for (int q = 0; q < kMaxNodes; ++q)
    if (q != p && peers_[q].exists && peers_[q].dev[vol].repl == ReplState::kSyncTarget)
      other_active = true;
  SetRepl(p, vol, other_active ? ReplState::kPausedSyncT : ReplState::kSyncTarget);
  if (d.rs_total > 0 || v.disk > DiskState::kInconsistent) SetDisk(vol, DiskState::kInconsistent);
  EmitEvent(
      Fmt("resync-start name:%s peer-node-id:%d volume:%u role:SyncTarget out-of-sync-kib:%llu",
          cfg_.name.c_str(), p, v.vnr.value(), static_cast<unsigned long long>(d.rs_total * 4)));
  MaybeFinishResync(p, vol);
}

void ResourceImpl::ResyncStep(int p, int vol) {
  PeerDevice& d = peers_[p].dev[vol];
  Volume& v = volumes_[vol];
  int slot = SlotOf(v, p);
  if (d.repl != ReplState::kSyncTarget || slot < 0 || !v.attached) return;
  if (!d.rate) d.rate.emplace(opts_);
  uint64_t in_flight_sectors = d.rs_in_flight.size() * 8;
  bool al_in_use = false;
  for (uint32_t r : v.al_refs)
    if (r) {
      al_in_use = true;
      break;
    }
  uint64_t rate_kib = d.rs_sectors_in / 2 * 10;  // KiB per second over the last step
  uint64_t want;
  if (d.rate->ShouldThrottle(v.app_sectors_since_check, al_in_use, rate_kib)) {
    want = 0;
    d.rate->Step(d.rs_sectors_in, in_flight_sectors);
  } else {
    want = d.rate->Step(d.rs_sectors_in, in_flight_sectors) / 8;
  }
  v.app_sectors_since_check = 0;
  d.rs_sectors_in = 0;
  // Never starve: with nothing in flight, ask for at least one block.
  if (want == 0 && d.rs_in_flight.empty()) want = 1;
  want = std::min(want, kMaxRequestsPerStep);
  Bitmap& bm = v.bitmaps[slot];
  int primary = -1;
  for (int q = 0; q < kMaxNodes; ++q)
    if (q != p && peers_[q].exists && peers_[q].conn == ConnState::kConnected &&
        peers_[q].role == Role::kPrimary)
      primary = q;
  uint64_t issued = 0;  // blocks
  uint64_t requests = 0;
  uint64_t scanned_wrap = 0;
  while (issued < want && requests < kMaxRequestsPerStep) {
    uint64_t b = bm.FindNextSet(d.rs_cursor);
    if (b >= bm.size()) {
      if (scanned_wrap++ > 0 || d.rs_cursor == 0) break;
      d.rs_cursor = 0;
      continue;
    }
    d.rs_cursor = b + 1;
    if (d.rs_in_flight.count(b)) continue;
    if (b * kBlockBytes >= v.size_bytes) {
      // Beyond the exposed size: nothing to sync.
      bm.Clear(b);
      MarkPageDirty(vol, slot, b, 1);
      continue;
    }
    uint64_t n = 1;
    // Checksum requests stay one block each: only the blocks that differ move.
    const uint64_t limit = opts_.csums ? 1 : std::min(kMaxBlocksPerRequest, want - issued);
    while (n < limit && b + n < bm.size() && bm.Test(b + n) && !d.rs_in_flight.count(b + n) &&
           (b + n) * kBlockBytes < v.size_bytes)
      ++n;
    for (uint64_t k = 0; k < n; ++k) d.rs_in_flight.insert(b + k);
    d.rs_cursor = b + n;
    ResyncRequest rq;
    rq.vnr = v.vnr.value();
    rq.offset = b * kBlockBytes;
    rq.length = static_cast<uint32_t>(n * kBlockBytes);
    if (primary >= 0) {
      rq.dagtag_node = static_cast<uint8_t>(primary);
      rq.dagtag = peers_[primary].last_dagtag;
    }
    if (opts_.csums) {
      // Checksum-based resync: send a digest of our block; identical blocks
      // are not transferred (§8.5).
      rq.kind = static_cast<uint8_t>(ResyncKind::kChecksum);
      uint32_t gen = peers_[p].conn_gen;
      ReadLocal(vol, rq.offset, rq.length,
                [this, p, gen, rq, vol](bool ok, SharedBytes data) mutable {
                  if (peers_[p].conn_gen != gen) return;
                  if (ok && data) {
                    rq.digest = Checksum64(*data);
                  } else {
                    if (!ok) OnLocalDiskError(vol);
                    rq.kind = static_cast<uint8_t>(ResyncKind::kData);
                  }
                  Send(p, rq);
                });
    } else {
      Send(p, rq);
    }
    issued += n;
    ++requests;
  }
  MaybeFinishResync(p, vol);
}

void ResourceImpl::OnResyncRequest(int p, const ResyncRequest& m) {
  // Wait for the Primary's writes only while we receive them (dagtags count
  // per connection: they restart with the Primary's process).
  int vol = VolIndex(VolumeNr(m.vnr));
  if (vol >= 0 && m.dagtag_node != 0xff && m.dagtag_node != self_ && m.dagtag_node < kMaxNodes) {
    const Peer& prim = peers_[m.dagtag_node];
    if (prim.exists && prim.conn == ConnState::kConnected && prim.handshake_done &&
        prim.role == Role::kPrimary && prim.dev[vol].repl == ReplState::kEstablished &&
        volumes_[vol].disk == DiskState::kUpToDate && prim.last_dagtag < m.dagtag) {
      peers_[p].rs_waiting.push_back(m);
      return;
    }
  }
  ServeResyncRequest(p, m);
}

void ResourceImpl::RetryWaitingResyncRequests() {
  for (int p = 0; p < kMaxNodes; ++p) {
    Peer& pr = peers_[p];
    if (pr.rs_waiting.empty()) continue;
    std::deque<ResyncRequest> waiting = std::move(pr.rs_waiting);
    pr.rs_waiting.clear();
    for (const ResyncRequest& m : waiting) OnResyncRequest(p, m);
  }
}

void ResourceImpl::ServeResyncRequest(int p, const ResyncRequest& m) {
  int vol = VolIndex(VolumeNr(m.vnr));
  auto reply_error = [&] {
    ResyncReply r;
    r.vnr = m.vnr;
    r.offset = m.offset;
    r.length = m.length;
    r.result = static_cast<uint8_t>(ResyncResult::kError);
    Send(p, r);
  };
  if (vol < 0) return reply_error();
  Volume& v = volumes_[vol];
  if (!v.attached || m.offset + m.length > v.bitmaps[0].size() * kBlockBytes) return reply_error();
  if (v.disk < DiskState::kOutdated) {
    // PausedSyncS: we are being repaired ourselves; answer once consistent.
    v.rs_paused.emplace_back(p, m);
    return;
  }
  uint32_t gen = peers_[p].conn_gen;
  // Read only after local writes to the block have landed, so the reply is
  // never older than data already sent to the target.
  WhenNotBusy(vol, m.offset, m.length, [this, p, vol, gen, m] {
    // A write that lands from now on may be newer than the reply: until the
    // target acknowledges the blocks, such a write is announced to it
    // (MarkOutOfSync), so that the reply does not clear them (§8.3).
    if (m.length > 0) {
      PeerDevice& sd = peers_[p].dev[vol];
      for (uint64_t b = m.offset / kBlockBytes; b <= (m.offset + m.length - 1) / kBlockBytes; ++b)
        sd.rs_serving.insert(b);
    }
    ReadLocal(vol, m.offset, m.length, [this, p, vol, gen, m](bool ok, SharedBytes data) {
      if (!ok) OnLocalDiskError(vol);
      if (peers_[p].conn_gen != gen) return;
      ResyncReply r;
      r.vnr = m.vnr;
      r.offset = m.offset;
      r.length = m.length;
      if (!ok || !data) {
        r.result = static_cast<uint8_t>(ResyncResult::kError);
      } else if (static_cast<ResyncKind>(m.kind) == ResyncKind::kChecksum &&
                 Checksum64(*data) == m.digest) {
        r.result = static_cast<uint8_t>(ResyncResult::kInSync);
      } else {
        r.result = static_cast<uint8_t>(ResyncResult::kData);
        r.payload = std::move(data);
      }
      Send(p, std::move(r));
    });
  });
}

void ResourceImpl::OnResyncReply(int p, const ResyncReply& m) {
  int vol = VolIndex(VolumeNr(m.vnr));
  if (vol < 0) return;
  PeerDevice& d = peers_[p].dev[vol];
  if (m.length == 0 || m.length % kBlockBytes != 0 || m.offset % kBlockBytes != 0 ||
      m.length > kMaxBlocksPerRequest * kBlockBytes) {
    DropConn(p, ConnState::kProtocolError);
    return;
  }
  const uint64_t b = m.offset / kBlockBytes;
  const uint64_t n = m.length / kBlockBytes;
  if (!d.rs_in_flight.count(b)) return;  // a reply to an earlier connection's request
  bool superseded = false;
  for (uint64_t k = 0; k < n; ++k) {
    d.rs_in_flight.erase(b + k);
    if (d.rs_superseded.erase(b + k)) superseded = true;
  }
  d.rs_sectors_in += m.length / kSectorSize;
  Volume& v = volumes_[vol];
  if (superseded) {
    // Application data reached a block after we asked: the reply may be
    // older. The bits stay set (where the write did not cover the block) and
    // the blocks are requested again.
    MaybeFinishResync(p, vol);
    return;
  }
  auto ack = [this, p, vnr = m.vnr](uint64_t offset, uint64_t length, bool ok) {
    ResyncAck a;
    a.vnr = vnr;
    a.offset = offset;
    a.length = static_cast<uint32_t>(length);
    a.ok = ok ? 1 : 0;
    Send(p, a);
  };
  switch (static_cast<ResyncResult>(m.result)) {
    case ResyncResult::kInSync:
      MarkInSync(vol, p, m.offset, m.length);
      d.rs_done += n;
      ack(m.offset, m.length, true);
      MaybeFinishResync(p, vol);
      return;
    case ResyncResult::kError:
      EmitEvent(Fmt("resync read error on %s at offset %llu", peers_[p].name.c_str(),
                    static_cast<unsigned long long>(m.offset)));
      DropConn(p, ConnState::kProtocolError);
      return;
    case ResyncResult::kData:
      break;
  }
  if (!m.payload || m.payload->size() != m.length || !v.attached) {
    DropConn(p, ConnState::kProtocolError);
    return;
  }
  uint32_t gen = peers_[p].conn_gen;
  // Resync data is written with FUA: a bit is cleared only once its data is
  // durable (a crash must not leave a clean bit over lost data).
  BusyAdd(vol, m.offset, m.length);
  for (uint64_t k = 0; k < n; ++k) d.rs_in_flight.insert(b + k);  // still ours until written
  DiskIo io;
  io.vnr = v.vnr;
  io.op = DiskOp::kWrite;
  io.offset = m.offset;
  io.length = m.length;
  io.fua = true;
  io.data = m.payload;
  SubmitIo(std::move(io), [this, p, vol, gen, m, b, n, ack](bool ok, SharedBytes) {
    BusyRelease(vol, m.offset, m.length);
    if (!ok) OnLocalDiskError(vol);
    if (peers_[p].conn_gen != gen) return;
    PeerDevice& dd = peers_[p].dev[vol];
    // In sync: every block no application write superseded meanwhile, one
    // ack per run of them.
    uint64_t run = 0;
    auto end_run = [&](uint64_t k) {
      if (run == 0) return;
      uint64_t first = b + k - run;
      MarkInSync(vol, p, first * kBlockBytes, run * kBlockBytes);
      dd.rs_done += run;
      ack(first * kBlockBytes, run * kBlockBytes, true);
      run = 0;
    };
    for (uint64_t k = 0; k < n; ++k) {
      dd.rs_in_flight.erase(b + k);
      bool stale = dd.rs_superseded.erase(b + k) > 0;
      if (ok && !stale) {
        ++run;
      } else {
        end_run(k);
      }
    }
    end_run(n);
    if (!ok) ack(m.offset, m.length, false);
    MaybeFinishResync(p, vol);
  });
}

void ResourceImpl::OnResyncAck(int p, const ResyncAck& m) {
  int vol = VolIndex(VolumeNr(m.vnr));
  if (vol < 0) return;
  if (m.length > 0) {
    PeerDevice& sd = peers_[p].dev[vol];
    for (uint64_t b = m.offset / kBlockBytes; b <= (m.offset + m.length - 1) / kBlockBytes; ++b)
      sd.rs_serving.erase(b);
  }
  if (m.ok) {
    MarkInSync(vol, p, m.offset, m.length);
    peers_[p].dev[vol].rs_done += m.length / kBlockBytes;
  }
}

void ResourceImpl::MaybeFinishResync(int p, int vol) {
  PeerDevice& d = peers_[p].dev[vol];
  Volume& v = volumes_[vol];
  int slot = SlotOf(v, p);
  if (d.repl != ReplState::kSyncTarget || slot < 0 || !d.rs_in_flight.empty()) return;
  if (v.bitmaps[slot].Count() != 0) return;
  FinishResyncTarget(p, vol);
}

// The target adopts the source's generation (§5.3) and tells the source.
void ResourceImpl::FinishResyncTarget(int p, int vol) {
  Volume& v = volumes_[vol];
  v.unclean = false;
  PeerDevice& d = peers_[p].dev[vol];
  DiskState src = d.peer_disk;
  SetRepl(p, vol, ReplState::kEstablished);
  uint64_t cur = d.peer_uuids.current & ~kUuidPrimaryBit;
  // A Primary that started a generation while SyncTarget (promoted with an
  // UpToDate peer at hand, then written) keeps it: its writes since are on
  // the source too, and taking the source's older current UUID back would
  // make the Primary's own generation look foreign at the next handshake.
  if (role_ == Role::kPrimary && v.generation_as_target) cur = 0;
  if (cur != 0 && cur != (v.sb.current_uuid & ~kUuidPrimaryBit)) {
    PushHistory(vol, v.sb.current_uuid);
    v.sb.current_uuid = cur;
  }
  for (uint64_t h : d.peer_uuids.history) PushHistory(vol, h);
  v.sb.peers[p].bitmap_uuid = 0;
  // The local-only writes of a crash or of a Primary that lost quorum are
  // gone now: this disk holds the source's data.
  v.sb.flags &= ~(kMdCrashedPrimary | kMdPrimaryLostQuorum);
  // Another paused resync may still have work.
  bool more = false;
  for (int q = 0; q < kMaxNodes; ++q)
    if (q != p && peers_[q].exists && peers_[q].dev[vol].repl == ReplState::kPausedSyncT)
      more = true;
  if (!more) v.generation_as_target = false;
  if (!more)
    SetDisk(vol, src == DiskState::kUpToDate   ? DiskState::kUpToDate
                 : src >= DiskState::kOutdated ? src
                                               : DiskState::kInconsistent);
  EmitEvent(Fmt("resync-finished name:%s peer-node-id:%d volume:%u kib:%llu", cfg_.name.c_str(), p,
                v.vnr.value(), static_cast<unsigned long long>(d.rs_done * 4)));
  WriteDirtyBitmapPages(vol, nullptr);
  WriteSuperblock(vol, nullptr);
  Uuids u;
  u.vnr = v.vnr.value();
  u.current = v.sb.current_uuid;
  for (int i = 0; i < kMaxNodes; ++i) u.bitmap_uuids.push_back(v.sb.peers[i].bitmap_uuid);
  for (uint64_t h : v.sb.history)
    if (h) u.history.push_back(h);
  u.flags = kUuidFlagResync;
  u.disk = static_cast<uint8_t>(v.disk);
  Send(p, u);
  dirty_ = true;
  ActivatePausedTarget(vol);
}

void ResourceImpl::ActivatePausedTarget(int vol) {
  for (int q = 0; q < kMaxNodes; ++q)
    if (peers_[q].exists && peers_[q].dev[vol].repl == ReplState::kSyncTarget) return;
  for (int q = 0; q < kMaxNodes; ++q) {
    if (!peers_[q].exists || peers_[q].dev[vol].repl != ReplState::kPausedSyncT) continue;
    SetRepl(q, vol, ReplState::kSyncTarget);
    if (volumes_[vol].disk > DiskState::kInconsistent) SetDisk(vol, DiskState::kInconsistent);
    MaybeFinishResync(q, vol);
    return;
  }
}

void ResourceImpl::AbortResync(int p, int vol) {
  PeerDevice& d = peers_[p].dev[vol];
  d.rs_in_flight.clear();
  d.rs_superseded.clear();
  d.rs_serving.clear();
  bool was_target = d.repl == ReplState::kSyncTarget;
  if (peers_[p].conn == ConnState::kConnected) SetRepl(p, vol, ReplState::kEstablished);
  if (was_target) ActivatePausedTarget(static_cast<int>(vol));
}

// --- online verify (§8.4) ----------------------------------------------------------------

void ResourceImpl::VerifyStep(int p, int vol) {
  PeerDevice& d = peers_[p].dev[vol];
  if (d.repl != ReplState::kVerifyS) return;
  Volume& v = volumes_[vol];
  uint64_t n = 0;
  while (n < kVerifyPerStep && d.ov_cursor < d.ov_end) {
    VerifyRequest rq;
    rq.vnr = v.vnr.value();
    rq.offset = d.ov_cursor * kBlockBytes;
    rq.length = static_cast<uint32_t>(kBlockBytes);
    Send(p, rq);
    ++d.ov_cursor;
    ++d.ov_in_flight;
    ++n;
  }
  if (d.ov_cursor >= d.ov_end && d.ov_in_flight == 0) {
    int slot = SlotOf(v, p);
    d.verify_bits = slot >= 0 ? v.bitmaps[slot].Count() : 0;
    SetRepl(p, vol, ReplState::kEstablished);
    EmitEvent(Fmt("verify-finished name:%s peer-node-id:%d volume:%u out-of-sync-kib:%llu",
                  cfg_.name.c_str(), p, v.vnr.value(),
                  static_cast<unsigned long long>(d.ov_out_of_sync * 4)));
    VerifyResult done;
    done.vnr = v.vnr.value();
    done.length = 0;
    Send(p, done);
  }
}

void ResourceImpl::OnVerifyRequest(int p, const VerifyRequest& m) {
  int vol = VolIndex(VolumeNr(m.vnr));
  if (vol < 0 || !volumes_[vol].attached) return;
  if (peers_[p].dev[vol].repl == ReplState::kEstablished) SetRepl(p, vol, ReplState::kVerifyT);
  uint32_t gen = peers_[p].conn_gen;
  ReadLocal(vol, m.offset, m.length, [this, p, vol, gen, m](bool ok, SharedBytes data) {
    if (!ok) OnLocalDiskError(vol);
    if (peers_[p].conn_gen != gen) return;
    VerifyReply r;
    r.vnr = m.vnr;
    r.offset = m.offset;
    r.length = m.length;
    r.digest = ok && data ? Checksum64(*data) : 0;
    Send(p, r);
  });
}

void ResourceImpl::OnVerifyReply(int p, const VerifyReply& m) {
  int vol = VolIndex(VolumeNr(m.vnr));
  if (vol < 0 || !volumes_[vol].attached) return;
  // Online verify never blocks application I/O: it compares what is there.
  uint32_t gen = peers_[p].conn_gen;
  ReadLocal(vol, m.offset, m.length, [this, p, vol, gen, m](bool ok, SharedBytes data) {
    if (!ok) OnLocalDiskError(vol);
    if (peers_[p].conn_gen != gen) return;
    PeerDevice& d = peers_[p].dev[vol];
    if (d.ov_in_flight) --d.ov_in_flight;
    bool in_sync = ok && data && Checksum64(*data) == m.digest;
    if (!in_sync) {
      ++d.ov_out_of_sync;
      MarkOutOfSync(vol, p, m.offset, m.length);
      EmitEvent(Fmt("Out of sync: start=%llu, size=%u (sectors)",
                    static_cast<unsigned long long>(m.offset / kSectorSize),
                    m.length / kSectorSize));
    }
    VerifyResult r;
    r.vnr = m.vnr;
    r.offset = m.offset;
    r.length = m.length;
    r.in_sync = in_sync ? 1 : 0;
    Send(p, r);
    AfterInput();
  });
}

void ResourceImpl::OnVerifyResult(int p, const VerifyResult& m) {
  int vol = VolIndex(VolumeNr(m.vnr));
  if (vol < 0) return;
  if (m.length == 0) {
    PeerDevice& d = peers_[p].dev[vol];
    int slot = SlotOf(volumes_[vol], p);
    d.verify_bits = slot >= 0 ? volumes_[vol].bitmaps[slot].Count() : 0;
    if (d.repl == ReplState::kVerifyT) SetRepl(p, vol, ReplState::kEstablished);
    return;
  }
  if (!m.in_sync) MarkOutOfSync(vol, p, m.offset, m.length);
}

}  // namespace tandem::engine
