// Metadata persistence, the activity log, the busy-block interval lock and
// generation UUIDs. The byte formats are in metadata.cc and
// docs/metadata-format.md; this file decides *when* they are written, in the
// crash-safe order that document gives.
#include <algorithm>
#include <cstdio>

#include "common/check.h"
#include "engine/internal/resource_impl.h"

namespace tandem::engine {

namespace {
constexpr uint64_t kWordsPerPage = kMdBlock / 8;
}

bool ResourceImpl::LoadMetadata(int vol, ByteSpan md, std::string* why) {
  Volume& v = volumes_[vol];
  auto sb = DecodeSuperblock(md);
  if (!sb.ok()) {
    *why = "metadata: " + sb.error().message;
    return false;
  }
  if (sb->node_id != self_) {
    *why = "metadata belongs to node id " + std::to_string(sb->node_id) + ", this node is " +
           std::to_string(self_);
    return false;
  }
  auto layout = ComputeLayout(v.backing_bytes, sb->max_peers, sb->al_ring_slots, v.internal_md);
  if (!layout.ok()) {
    *why = "metadata: " + layout.error().message;
    return false;
  }
  if (layout->md_bytes != sb->md_bytes || md.size() < layout->md_bytes) {
    *why = "metadata size does not match the backing device (was it resized offline?)";
    return false;
  }
  v.sb = *sb;
  v.usable_bytes = layout->usable_bytes;
  v.bitmaps.assign(v.sb.max_peers, Bitmap(layout->bm_bits));
  v.dirty_pages.assign(v.sb.max_peers, {});
  for (uint32_t s = 0; s < v.sb.max_peers; ++s) {
    ByteReader r(md.subspan(v.sb.bm_offset + s * v.sb.bm_slot_bytes, v.sb.bm_slot_bytes));
    uint64_t words = (layout->bm_bits + 63) / 64;
    for (uint64_t w = 0; w < words; ++w) {
      uint64_t word = r.U64();
      while (word) {
        int bit = __builtin_ctzll(word);
        word &= word - 1;
        uint64_t b = w * 64 + static_cast<uint64_t>(bit);
        // Bits over the metadata area mean nothing (older versions could
        // set them); they are dropped.
        if (b < layout->bm_bits && b * kMdBlock < v.usable_bytes) v.bitmaps[s].Set(b);
      }
    }
  }
  // The activity log.
  v.al_slots.assign(v.sb.al_extents, kAlNoExtent);
  v.al_refs.assign(v.sb.al_extents, 0);
  v.al_index.clear();
  v.al_lru.clear();
  v.al_lru_pos.clear();
  ByteSpan ring = md.subspan(v.sb.al_offset, static_cast<size_t>(v.sb.al_ring_slots) * kMdBlock);
  uint64_t max_tr = 0;
  uint32_t max_pos = 0;
  bool any = false;
  for (uint32_t i = 0; i < v.sb.al_ring_slots; ++i) {
    auto tr = DecodeAlTransaction(ring.subspan(static_cast<size_t>(i) * kMdBlock, kMdBlock));
    if (tr.ok() && (!any || tr->tr_number > max_tr)) {
      max_tr = tr->tr_number;
      max_pos = i;
      any = true;
    }
  }
  v.al_tr_number = any ? max_tr + 1 : 1;
  v.al_next_slot_in_ring = any ? (max_pos + 1) % v.sb.al_ring_slots : 0;
  v.al_context_cursor = 0;
  if (!(v.sb.flags & kMdAlClean)) {
    // apply-al: every extent that may have had writes in flight is out of sync
    // towards every peer (drbd-semantics.md §4.4).
    std::vector<uint32_t> active = RecoverActiveExtents(ring, v.sb.al_extents);
    v.unclean = !active.empty();
    uint64_t marked = 0;
    for (uint32_t e : active) {
      uint64_t first = static_cast<uint64_t>(e) * kBlocksPerExtent;
      for (uint32_t s = 0; s < v.sb.max_peers; ++s) {
        if (first >= v.bitmaps[s].size()) continue;
        uint64_t n = std::min<uint64_t>(kBlocksPerExtent, v.bitmaps[s].size() - first);
        marked += v.bitmaps[s].SetRange(first, n);
        MarkPageDirty(vol, static_cast<int>(s), first, n);
      }
    }
    if (!active.empty())
      EmitEvent("apply-al volume:" + std::to_string(v.vnr.value()) + " extents:" +
                std::to_string(active.size()) + " marked-kib:" + std::to_string(marked * 4));
  }
  return true;
}

void ResourceImpl::WriteMd(int vol, uint64_t offset, Bytes data, std::function<void()> then,
                           DiskArea area) {
  DiskIo io;
  io.vnr = volumes_[vol].vnr;
  io.area = area;
  io.op = DiskOp::kWrite;
  io.offset = offset;
  io.length = static_cast<uint32_t>(data.size());
  io.fua = true;
  io.data = MakeShared(std::move(data));
  SubmitIo(std::move(io), [this, vol, then = std::move(then)](bool ok, SharedBytes) {
    if (!ok) OnLocalDiskError(vol);
    if (then) then();
    AfterInput();
  });
}

void ResourceImpl::FlushData(int vol, std::function<void()> then) {
  if (!volumes_[vol].attached) {
    if (then) then();
    return;
  }
  DiskIo io;
  io.vnr = volumes_[vol].vnr;
  io.area = DiskArea::kData;
  io.op = DiskOp::kFlush;
  SubmitIo(std::move(io), [this, vol, then = std::move(then)](bool ok, SharedBytes) {
    if (!ok) OnLocalDiskError(vol);
    if (then) then();
    AfterInput();
  });
}

void ResourceImpl::WriteSuperblock(int vol, std::function<void()> then) {
  Volume& v = volumes_[vol];
  if (!v.attached) {
    if (then) then();
    return;
  }
  if (v.grow && v.grow->writing) {
    v.grow_held.push_back([this, vol, then = std::move(then)]() mutable {
      WriteSuperblock(vol, std::move(then));
    });
    return;
  }
  if (v.sb_writing) {
    v.sb_dirty_again = true;
    if (then) v.sb_next_waiters.push_back(std::move(then));
    return;
  }
  v.sb_writing = true;
  if (then) v.sb_waiters.push_back(std::move(then));
  v.sb_submitted = v.sb;
  WriteMd(vol, 0, EncodeSuperblock(v.sb), [this, vol] {
    Volume& vv = volumes_[vol];
    vv.sb_writing = false;
    auto done = std::move(vv.sb_waiters);
    vv.sb_waiters = std::move(vv.sb_next_waiters);
    vv.sb_next_waiters.clear();
    if (vv.sb_dirty_again) {
      vv.sb_dirty_again = false;
      auto next = std::move(vv.sb_waiters);
      vv.sb_waiters.clear();
      WriteSuperblock(vol, [next = std::move(next)] {
        for (auto& f : next) f();
      });
    }
    for (auto& f : done) f();
  });
}

void ResourceImpl::MarkPageDirty(int vol, int slot, uint64_t bit_first, uint64_t bit_count) {
  if (bit_count == 0) return;
  Volume& v = volumes_[vol];
  if (static_cast<size_t>(slot) >= v.dirty_pages.size()) return;
  for (uint64_t p = bit_first / kBitsPerPage; p <= (bit_first + bit_count - 1) / kBitsPerPage; ++p)
    v.dirty_pages[slot].insert(p);
}

void ResourceImpl::WriteDirtyBitmapPages(int vol, std::function<void()> then) {
  Volume& v = volumes_[vol];
  if (v.attached && v.grow && v.grow->writing) {
    v.grow_held.push_back([this, vol, then = std::move(then)]() mutable {
      WriteDirtyBitmapPages(vol, std::move(then));
    });
    return;
  }
  auto left = std::make_shared<int>(1);
  auto done = [left, then = std::move(then)] {
    if (--*left == 0 && then) then();
  };
  if (v.attached) {
    for (size_t s = 0; s < v.dirty_pages.size(); ++s) {
      const auto& words = v.bitmaps[s].words();
      for (uint64_t page : v.dirty_pages[s]) {
        Bytes b;
        b.reserve(kMdBlock);
        ByteWriter w(&b);
        for (uint64_t i = 0; i < kWordsPerPage; ++i) {
          uint64_t wi = page * kWordsPerPage + i;
          w.U64(wi < words.size() ? words[wi] : 0);
        }
        ++*left;
        WriteMd(vol, BitmapPageOffset(v.sb, static_cast<uint32_t>(s), page), std::move(b), done);
      }
      v.dirty_pages[s].clear();
    }
  }
  done();
}

// --- activity log ------------------------------------------------------------------

bool ResourceImpl::AlTryBeginHot(int vol, uint64_t offset, uint64_t length) {
  Volume& v = volumes_[vol];
  if (!v.attached) return true;
  uint32_t first = static_cast<uint32_t>(offset / kAlExtentBytes);
  uint32_t last = static_cast<uint32_t>((offset + length - 1) / kAlExtentBytes);
  for (uint32_t e = first; e <= last; ++e) {
    if (!v.al_index.count(e)) return false;
    // Not hot until the transaction that activates it is durable.
    if (!v.al_pending.empty() &&
        std::find(v.al_pending.begin(), v.al_pending.end(), e) != v.al_pending.end())
      return false;
  }
  for (uint32_t e = first; e <= last; ++e) {
    uint32_t slot = v.al_index[e];
    if (v.al_refs[slot]++ == 0) {
      auto it = v.al_lru_pos.find(slot);
      if (it != v.al_lru_pos.end()) {
        v.al_lru.erase(it->second);
        v.al_lru_pos.erase(it);
      }
    }
  }
  return true;
}

void ResourceImpl::AlBegin(int vol, uint64_t offset, uint64_t length, std::function<void()> go) {
  Volume& v = volumes_[vol];
  if (!v.attached) return go();
  if (AlTryBeginHot(vol, offset, length)) return go();
  uint32_t first = static_cast<uint32_t>(offset / kAlExtentBytes);
  uint32_t last = static_cast<uint32_t>((offset + length - 1) / kAlExtentBytes);
  for (uint32_t e = first; e <= last; ++e)
    if (!v.al_index.count(e) && std::find(v.al_want.begin(), v.al_want.end(), e) == v.al_want.end())
      v.al_want.push_back(e);
  v.al_waiters.push_back([this, vol, offset, length, go = std::move(go)]() mutable {
    AlBegin(vol, offset, length, std::move(go));
  });
  AlWriteNext(vol);
}

void ResourceImpl::AlEnd(int vol, uint64_t offset, uint64_t length) {
  Volume& v = volumes_[vol];
  if (!v.attached) return;
  uint32_t first = static_cast<uint32_t>(offset / kAlExtentBytes);
  uint32_t last = static_cast<uint32_t>((offset + length - 1) / kAlExtentBytes);
  for (uint32_t e = first; e <= last; ++e) {
    auto it = v.al_index.find(e);
    if (it == v.al_index.end()) continue;
    uint32_t slot = it->second;
    if (v.al_refs[slot] == 0) continue;
    if (--v.al_refs[slot] == 0) {
      v.al_lru.push_back(slot);
      v.al_lru_pos[slot] = std::prev(v.al_lru.end());
    }
  }
  if (!v.al_want.empty() && !v.al_writing) AlWriteNext(vol);
}

// One AL transaction: activate wanted extents (evicting cold ones), write the
// bitmap pages first, then the transaction with FUA; then the waiting writes go.
void ResourceImpl::AlWriteNext(int vol) {
  Volume& v = volumes_[vol];
  if (v.grow && v.attached) {
    // New transactions wait for the relocation; it starts once the one in
    // flight has completed (metadata-format.md §9 step 1).
    if (!v.grow->writing && !v.al_writing) GrowRelocate(vol);
    return;
  }
  if (v.al_writing || v.al_want.empty() || !v.attached) return;
  AlTransaction tr;
  std::vector<uint32_t> still_wanted;
  bool evicted = false;
  for (uint32_t e : v.al_want) {
    if (v.al_index.count(e)) continue;
    if (tr.updates.size() >= kAlMaxUpdates) {
      still_wanted.push_back(e);
      continue;
    }
    // A free slot, else the least recently used unreferenced one.
    int slot = -1;
    for (uint32_t s = 0; s < v.al_slots.size(); ++s)
      if (v.al_slots[s] == kAlNoExtent) {
        slot = static_cast<int>(s);
        break;
      }
    if (slot < 0 && !v.al_lru.empty()) {
      slot = static_cast<int>(v.al_lru.front());
      v.al_lru.pop_front();
      v.al_lru_pos.erase(static_cast<uint32_t>(slot));
      v.al_index.erase(v.al_slots[slot]);
      evicted = true;
    }
    if (slot < 0) {
      still_wanted.push_back(e);
      continue;
    }
    v.al_slots[slot] = e;
    v.al_index[e] = static_cast<uint32_t>(slot);
    v.al_refs[slot] = 0;
    v.al_lru.push_back(static_cast<uint32_t>(slot));
    v.al_lru_pos[static_cast<uint32_t>(slot)] = std::prev(v.al_lru.end());
    tr.updates.emplace_back(static_cast<uint16_t>(slot), e);
    v.al_pending.push_back(e);
  }
  v.al_want = std::move(still_wanted);
  if (tr.updates.empty()) {
    auto waiters = std::move(v.al_waiters);
    v.al_waiters.clear();
    for (auto& w : waiters) w();
    return;
  }
  tr.tr_number = v.al_tr_number++;
  size_t cap = AlContextCapacity();
  uint32_t start = v.al_context_cursor;
  uint32_t n = static_cast<uint32_t>(std::min<size_t>(cap, v.al_slots.size() - start));
  tr.context_start = start;
  tr.context.assign(v.al_slots.begin() + start, v.al_slots.begin() + start + n);
  v.al_context_cursor = (start + n) % static_cast<uint32_t>(v.al_slots.size());
  uint64_t pos = v.sb.al_offset + static_cast<uint64_t>(v.al_next_slot_in_ring) * kMdBlock;
  v.al_next_slot_in_ring = (v.al_next_slot_in_ring + 1) % v.sb.al_ring_slots;
  v.al_writing = true;
  Bytes block = EncodeAlTransaction(tr);
  // An evicted extent leaves the AL: its completed writes must be durable
  // first (DRBD writes the transaction with PREFLUSH), then its bitmap pages,
  // then the transaction itself.
  auto write_tr = [this, vol, pos, block = std::move(block)]() mutable {
    WriteDirtyBitmapPages(vol, [this, vol, pos, block = std::move(block)]() mutable {
      if (!volumes_[vol].attached) return;
      WriteMd(vol, pos, std::move(block), [this, vol] {
        Volume& vv = volumes_[vol];
        vv.al_writing = false;
        vv.al_pending.clear();
        auto waiters = std::move(vv.al_waiters);
        vv.al_waiters.clear();
        for (auto& w : waiters) w();
        AlWriteNext(vol);
      });
    });
  };
  if (evicted) {
    FlushData(vol, std::move(write_tr));
  } else {
    write_tr();
  }
}

void ResourceImpl::AlInitRing(int vol, std::function<void()> then) {
  Volume& v = volumes_[vol];
  // Bits applied from the old AL must be durable before the ring forgets it.
  WriteDirtyBitmapPages(vol, [this, vol, then = std::move(then)] {
    Volume& vv = volumes_[vol];
    // A bitmap page write failed and detached the disk: the applied bits are
    // not durable, so the old AL stays for the next attach to apply again
    // (drbd-semantics.md §4.4: the AL is re-initialised only after apply-al).
    if (!vv.attached) {
      if (then) then();
      return;
    }
    size_t cap = AlContextCapacity();
    size_t n = (vv.al_slots.size() + cap - 1) / cap;
    auto left = std::make_shared<size_t>(n);
    for (size_t k = 0; k < n; ++k) {
      AlTransaction tr;
      tr.tr_number = vv.al_tr_number++;
      tr.context_start = static_cast<uint32_t>(k * cap);
      size_t len = std::min(cap, vv.al_slots.size() - k * cap);
      tr.context.assign(len, kAlNoExtent);
      uint64_t pos = vv.sb.al_offset + static_cast<uint64_t>(vv.al_next_slot_in_ring) * kMdBlock;
      vv.al_next_slot_in_ring = (vv.al_next_slot_in_ring + 1) % vv.sb.al_ring_slots;
      WriteMd(vol, pos, EncodeAlTransaction(tr), [left, then] {
        if (--*left == 0 && then) then();
      });
    }
    if (n == 0 && then) then();
  });
  (void)v;
}

// --- busy blocks (interval lock between application and resync I/O) ------------------

bool ResourceImpl::BlocksBusy(int vol, uint64_t offset, uint64_t length) const {
  const Volume& v = volumes_[vol];
  if (v.busy_blocks.empty()) return false;
  for (uint64_t b = offset / kBlockBytes; b <= (offset + length - 1) / kBlockBytes; ++b)
    if (v.busy_blocks.count(b)) return true;
  return false;
}

void ResourceImpl::BusyAdd(int vol, uint64_t offset, uint64_t length) {
  Volume& v = volumes_[vol];
  for (uint64_t b = offset / kBlockBytes; b <= (offset + length - 1) / kBlockBytes; ++b)
    ++v.busy_blocks[b];
}

void ResourceImpl::BusyRelease(int vol, uint64_t offset, uint64_t length) {
  Volume& v = volumes_[vol];
  for (uint64_t b = offset / kBlockBytes; b <= (offset + length - 1) / kBlockBytes; ++b) {
    auto it = v.busy_blocks.find(b);
    if (it != v.busy_blocks.end() && --it->second == 0) v.busy_blocks.erase(it);
  }
  // Waiters run in order; one that is still blocked keeps its place.
  size_t n = v.busy_waiters.size();
  for (size_t i = 0; i < n && !volumes_[vol].busy_waiters.empty(); ++i) {
    auto w = std::move(volumes_[vol].busy_waiters.front());
    volumes_[vol].busy_waiters.pop_front();
    if (!w()) {
      volumes_[vol].busy_waiters.push_front(std::move(w));
      break;
    }
  }
}

void ResourceImpl::WhenNotBusy(int vol, uint64_t offset, uint64_t length,
                               std::function<void()> go) {
  if (!BlocksBusy(vol, offset, length) && volumes_[vol].busy_waiters.empty()) return go();
  volumes_[vol].busy_waiters.push_back([this, vol, offset, length, go = std::move(go)]() {
    if (BlocksBusy(vol, offset, length)) return false;
    go();
    return true;
  });
}

// --- generation UUIDs (§5.2) ---------------------------------------------------------------

void ResourceImpl::PushHistory(int vol, uint64_t uuid) {
  uuid &= ~kUuidPrimaryBit;
  if (uuid == 0 || uuid == kUuidJustCreated) return;
  auto& h = volumes_[vol].sb.history;
  if (h[0] == uuid) return;
  for (size_t i = h.size() - 1; i > 0; --i) h[i] = h[i - 1];
  h[0] = uuid;
}

void ResourceImpl::RotateCurrentIntoBitmaps(int vol, uint64_t also_absent) {
  Volume& v = volumes_[vol];
  uint64_t cur = v.sb.current_uuid & ~kUuidPrimaryBit;
  for (int p = 0; p < kMaxNodes; ++p) {
    if (!IsDiskfulPeer(p) || SlotOf(v, p) < 0) continue;
    const Peer& pr = peers_[p];
    bool absent = pr.conn != ConnState::kConnected || !pr.handshake_done ||
                  pr.dev[vol].peer_disk <= DiskState::kDUnknown ||
                  pr.dev[vol].peer_disk == DiskState::kOutdated ||
                  pr.dev[vol].repl != ReplState::kEstablished || (also_absent & (1ull << p));
    // Bit 0 records whether we were Primary when we lost this peer, i.e. when
    // the divergence began (the after-sb younger/older-primary policies, §6).
    bool was_primary =
        pr.conn != ConnState::kConnected ? pr.we_were_primary_at_loss : role_ == Role::kPrimary;
    uint64_t& bu = v.sb.peers[p].bitmap_uuid;
    if (absent && (bu == 0 || (bu & ~kUuidPrimaryBit) == cur))
      bu = cur | (was_primary ? kUuidPrimaryBit : 0);
  }
}

// Decides at the first write after a trigger whether a new generation is
// useful: only when some peer misses writes from now on, or on day 0.
bool ResourceImpl::MaybeNewUuidForWrite(int vol) {
  Volume& v = volumes_[vol];
  v.new_uuid_pending = false;
  if (!v.attached) {
    // A diskless Primary creates the generation for its diskful peers.
    bool absent = v.lost_disk;
    v.lost_disk = false;
    for (int p = 0; p < kMaxNodes; ++p)
      if (IsDiskfulPeer(p) && (peers_[p].conn != ConnState::kConnected ||
                               peers_[p].dev[vol].peer_disk != DiskState::kUpToDate))
        absent = true;
    if (!absent) return false;
    NewCurrentUuidNow(vol);
    return false;
  }
  auto before = v.sb.peers;
  RotateCurrentIntoBitmaps(vol);
  bool changed = !(before == v.sb.peers);
  bool day0 = v.sb.history[0] == 0;
  if (!changed && !day0) return false;
  NewCurrentUuidNow(vol);
  return true;
}

void ResourceImpl::NewCurrentUuidNow(int vol) {
  Volume& v = volumes_[vol];
  v.new_uuid_pending = false;
  CloseEpoch();
  uint64_t old = v.sb.current_uuid;
  uint64_t fresh;
  do {
    fresh = env_->Random64() & ~kUuidPrimaryBit;
  } while (fresh == 0 || fresh == kUuidJustCreated);
  if (!v.attached) {
    // Diskless: we own no metadata; peers persist it.
    v.sb.current_uuid = fresh;
    for (int p = 0; p < kMaxNodes; ++p)
      if (IsDiskfulPeer(p) && peers_[p].conn == ConnState::kConnected)
        Send(p, CurrentUuid{v.vnr.value(), fresh});
    return;
  }
  RotateCurrentIntoBitmaps(vol);
  PushHistory(vol, old);
  v.sb.current_uuid = fresh | (role_ == Role::kPrimary ? kUuidPrimaryBit : 0);
  for (int p = 0; p < kMaxNodes; ++p)
    if (peers_[p].exists && (peers_[p].dev[vol].repl == ReplState::kSyncTarget ||
                             peers_[p].dev[vol].repl == ReplState::kPausedSyncT))
      v.generation_as_target = true;
  EmitEvent("new-current-uuid name:" + cfg_.name + " volume:" + std::to_string(v.vnr.value()));
  v.uuid_persisting = true;
  WriteSuperblock(vol, [this, vol] {
    Volume& vv = volumes_[vol];
    vv.uuid_persisting = false;
    auto held = std::move(vv.held_writes);
    vv.held_writes.clear();
    for (uint64_t seq : held) ProceedWrite(seq);
  });
  for (int p = 0; p < kMaxNodes; ++p) {
    if (!peers_[p].exists || peers_[p].conn != ConnState::kConnected || !peers_[p].handshake_done)
      continue;
    Uuids u;
    u.vnr = v.vnr.value();
    u.current = fresh;
    for (int i = 0; i < kMaxNodes; ++i) u.bitmap_uuids.push_back(v.sb.peers[i].bitmap_uuid);
    for (uint64_t h : v.sb.history)
      if (h) u.history.push_back(h);
    u.flags = kUuidFlagNewDatagen;
    u.disk = static_cast<uint8_t>(v.disk);
    Send(p, u);
  }
}

// A connected, in-sync peer started a new generation: follow it, remembering
// the old generation for peers that miss the new writes.
void ResourceImpl::AdoptPeerUuid(int vol, uint64_t uuid, int from) {
  Volume& v = volumes_[vol];
  uuid &= ~kUuidPrimaryBit;
  if (!v.attached || (v.sb.current_uuid & ~kUuidPrimaryBit) == uuid) return;
  // Peers that do not receive the writer's data directly miss the new
  // generation's writes: remember the old generation for them too.
  uint64_t weak = 0;
  if (from >= 0)
    for (int q = 0; q < kMaxNodes; ++q)
      if (q != from && q != self_ && peers_[q].exists &&
          !(peers_[from].connected_mask & (1ull << q)))
        weak |= 1ull << q;
  RotateCurrentIntoBitmaps(vol, weak);
  PushHistory(vol, v.sb.current_uuid);
  v.sb.current_uuid = uuid;
  WriteSuperblock(vol, nullptr);
}

void ResourceImpl::SetMdFlag(int vol, uint32_t flag, bool on) {
  Volume& v = volumes_[vol];
  uint32_t before = v.sb.flags;
  if (on)
    v.sb.flags |= flag;
  else
    v.sb.flags &= ~flag;
  if (before != v.sb.flags) WriteSuperblock(vol, nullptr);
}

// --- online grow: metadata relocation (metadata-format.md §9) ---------------------

void ResourceImpl::Grow(uint64_t cookie, VolumeNr vnr, uint64_t new_backing) {
  int vol = VolIndex(vnr);
  if (vol < 0) return Done(cookie, SsCode::kInvalidArgument, Fmt("no volume %u", vnr.value()));
  Volume& v = volumes_[vol];
  if (!v.attached) return Done(cookie, SsCode::kNoLocalDisk, "grow needs an attached disk");
  if (v.disk == DiskState::kAttaching || v.disk == DiskState::kDetaching)
    return Done(cookie, SsCode::kInTransientState, "the disk is attaching or detaching");
  if (v.grow) return Done(cookie, SsCode::kInTransientState, "a grow is in progress");
  if (new_backing == v.backing_bytes) return Done(cookie, SsCode::kNothingToDo);
  if (new_backing < v.backing_bytes)
    return Done(cookie, SsCode::kShrink, "a backing device cannot shrink online");
  Result<MdLayout> l =
      ComputeLayout(new_backing, v.sb.max_peers, v.sb.al_ring_slots, v.internal_md);
  if (!l.ok()) return Done(cookie, SsCode::kInvalidArgument, "grow: " + l.error().message);
  if (v.internal_md && l->usable_bytes < v.backing_bytes) {
    Result<uint64_t> min = GrowBackingBytes(v.backing_bytes, v.backing_bytes, v.sb.max_peers,
                                            v.sb.al_ring_slots, true);
    return Done(cookie, SsCode::kInvalidArgument,
                Fmt("the new metadata area would overlap the current one: grow the backing "
                    "device to at least %llu bytes",
                    static_cast<unsigned long long>(min.ok() ? *min : 0)));
  }
  Volume::Grow g;
  g.cookie = cookie;
  g.backing_bytes = new_backing;
  g.layout = *l;
  v.grow = g;
  EmitEvent(Fmt("grow volume:%u backing:%llu relocating metadata", v.vnr.value(),
                static_cast<unsigned long long>(new_backing)));
  if (!v.al_writing) GrowRelocate(vol);
  AfterInput();
}

void ResourceImpl::GrowRelocate(int vol) {
  Volume& v = volumes_[vol];
  Volume::Grow& g = *v.grow;
  const MdLayout& l = g.layout;
  g.writing = true;
  for (Bitmap& bm : v.bitmaps) bm.Resize(l.bm_bits);
  // The AL ring: the current slots as contexts of fresh transactions.
  Bytes ring(static_cast<size_t>(l.al_bytes), 0);
  size_t cap = AlContextCapacity();
  size_t n = (v.al_slots.size() + cap - 1) / cap;
  for (size_t k = 0; k < n; ++k) {
    AlTransaction tr;
    tr.tr_number = v.al_tr_number++;
    tr.context_start = static_cast<uint32_t>(k * cap);
    size_t len = std::min(cap, v.al_slots.size() - k * cap);
    tr.context.assign(v.al_slots.begin() + k * cap, v.al_slots.begin() + k * cap + len);
    Bytes block = EncodeAlTransaction(tr);
    std::copy(block.begin(), block.end(), ring.begin() + k * kMdBlock);
  }
  g.al_next_slot = static_cast<uint32_t>(n % v.sb.al_ring_slots);
  // The new superblock carries what was last submitted to the current area:
  // later changes of the in-memory superblock follow their own ordering and
  // are written after the switch.
  Superblock sb = v.sb_submitted;
  sb.md_bytes = l.md_bytes;
  sb.bm_offset = l.bm_offset;
  sb.bm_slot_bytes = l.bm_slot_bytes;
  std::vector<Bytes> slots;
  for (const Bitmap& bm : v.bitmaps) {
    Bytes b;
    b.reserve(static_cast<size_t>(l.bm_slot_bytes));
    ByteWriter w(&b);
    const auto& words = bm.words();
    for (uint64_t i = 0; i < l.bm_slot_bytes / 8; ++i) w.U64(i < words.size() ? words[i] : 0);
    slots.push_back(std::move(b));
  }
  // Bits cleared in this snapshot stand for completed writes: those are made
  // durable before the snapshot is.
  FlushData(vol, [this, vol, ring = std::move(ring), slots = std::move(slots), sb]() mutable {
    Volume& vv = volumes_[vol];
    if (!vv.grow || !vv.attached) return;
    const MdLayout& nl = vv.grow->layout;
    auto left = std::make_shared<size_t>(1 + slots.size());
    auto written = [this, vol, left, sb] {
      if (--*left != 0) return;
      Volume& v3 = volumes_[vol];
      if (!v3.grow || !v3.attached) return;
      // Everything else is durable: the superblock makes the new area valid.
      WriteMd(vol, 0, EncodeSuperblock(sb), [this, vol] { GrowSwitch(vol); },
              DiskArea::kMetaNext);
    };
    WriteMd(vol, nl.al_offset, std::move(ring), written, DiskArea::kMetaNext);
    for (size_t s = 0; s < slots.size(); ++s)
      WriteMd(vol, nl.bm_offset + s * nl.bm_slot_bytes, std::move(slots[s]), written,
              DiskArea::kMetaNext);
  });
}

void ResourceImpl::GrowSwitch(int vol) {
  Volume& v = volumes_[vol];
  if (!v.grow || !v.attached) return;  // failed meanwhile (AbortGrow answered)
  Volume::Grow g = *v.grow;
  v.grow.reset();
  v.backing_bytes = g.backing_bytes;
  v.usable_bytes = g.layout.usable_bytes;
  v.al_next_slot_in_ring = g.al_next_slot;
  v.al_context_cursor = 0;
  v.sb.md_bytes = g.layout.md_bytes;
  v.sb.bm_offset = g.layout.bm_offset;
  v.sb.bm_slot_bytes = g.layout.bm_slot_bytes;
  EmitEvent(Fmt("grow volume:%u backing:%llu usable:%llu done", v.vnr.value(),
                static_cast<unsigned long long>(v.backing_bytes),
                static_cast<unsigned long long>(v.usable_bytes)));
  Done(g.cookie, SsCode::kSuccess);
  // Peers learn the larger size we allow; a resize agreed while this node was
  // too small to follow it now applies.
  for (int p = 0; p < kMaxNodes; ++p) {
    if (!peers_[p].exists || peers_[p].conn != ConnState::kConnected) continue;
    SendSizes(p, vol);
    if (peers_[p].dev[vol].got_sizes) AdoptAgreedSize(vol, peers_[p].dev[vol].peer_current_bytes);
  }
  auto held = std::move(v.grow_held);
  v.grow_held.clear();
  for (auto& f : held) f();
  AlWriteNext(vol);
  dirty_ = true;
}

void ResourceImpl::AbortGrow(int vol, const std::string& why) {
  Volume& v = volumes_[vol];
  if (!v.grow) return;
  uint64_t cookie = v.grow->cookie;
  v.grow.reset();
  Done(cookie, SsCode::kNoLocalDisk, "grow: " + why);
  auto held = std::move(v.grow_held);
  v.grow_held.clear();
  for (auto& f : held) f();
}

}  // namespace tandem::engine
