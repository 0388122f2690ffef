// The connect-time sync decision (drbd-semantics.md §5.4, §6).
//
// Everything here is a pure function of the two Uuids messages, so both ends of
// a connection evaluate it independently. The one property every branch must
// keep is mirror symmetry: DecideSync(a, b, p, r) and DecideSync(b, a, p, !r)
// describe the same resync (one end source, the other target; or both the same
// terminal outcome). Every tie is therefore broken by `resolve_conflicts`, and
// our convention is uniform: the end with resolve_conflicts set (the lower node
// id) becomes the SOURCE in every tie. (DRBD's drbd_asb_recover_0p makes the
// resolving end the target in its change-count ties; the choice is arbitrary as
// long as both ends use the same one, and one convention is easier to reason
// about.)
#include "engine/uuid_compare.h"

#include <algorithm>
#include <cstddef>
#include <string>

#include "common/check.h"

namespace tandem::engine {
namespace {

// Generation UUIDs compare with the role bit masked (§5.1).
uint64_t Masked(uint64_t uuid) { return uuid & ~kUuidPrimaryBit; }

// Current UUID as the rule table sees it: masked, and 0 (no metadata UUID yet)
// treated as JUST_CREATED.
uint64_t EffectiveCurrent(const UuidSide& s) {
  const uint64_t c = Masked(s.current);
  return c == 0 ? kUuidJustCreated : c;
}

bool Has(const UuidSide& s, uint32_t flag) { return (s.flags & flag) != 0; }

// The bitmap UUID `of` keeps for node `node`, masked. 0 means none.
uint64_t BitmapUuidFor(const UuidSide& of, NodeId node) {
  const size_t i = node.value();
  return i < of.bitmap_uuids.size() ? Masked(of.bitmap_uuids[i]) : 0;
}

bool InHistory(const UuidSide& s, uint64_t uuid) {
  if (uuid == 0) return false;
  return std::any_of(s.history.begin(), s.history.end(),
                     [uuid](uint64_t h) { return Masked(h) == uuid; });
}

bool CommonHistory(const UuidSide& a, const UuidSide& b) {
  return std::any_of(a.history.begin(), a.history.end(),
                     [&b](uint64_t h) { return Masked(h) != 0 && InHistory(b, Masked(h)); });
}

// First third node i (not `owner`, not `other`) whose bitmap UUID in `owner`
// equals `uuid`; -1 if none. Scanning in node-id order keeps both ends on the
// same i: end A's rule 6 scans the same array as end B's rule 8.
int ThirdNodeSlotMatching(const UuidSide& owner, NodeId other, uint64_t uuid) {
  for (int i = 0; i < kMaxNodes; ++i) {
    if (i == owner.node_id.value() || i == other.value()) continue;
    if (Masked(owner.bitmap_uuids[i]) == uuid) return i;
  }
  return -1;
}

UuidCompareResult Result(SyncStrategy s, int rule, const char* name, int other_node = -1) {
  UuidCompareResult r;
  r.strategy = s;
  r.rule = rule;
  r.rule_name = name;
  r.other_node = other_node;
  return r;
}

// Rules 4a..4g: both ends are on the same data generation. The flags say
// whether that generation's data may still differ (crash, lost quorum,
// unfinished resync bookkeeping).
//
// 4c (crashed-primary: exactly one CRASHED_PRIMARY => it is SOURCE_USE_BITMAP)
// applies only to wire protocol A/B, which this function does not see. We apply
// protocol C semantics: the crashed-primary cases are decided by 4e (survivor
// with RECONNECT is source) and 4g (both-off: the crashed Primary is source),
// both as *_IF_BOTH_FAILED. For a protocol-A resource the caller must treat a
// 4g "both-off" result as SOURCE_USE_BITMAP for the crashed side (§4.4 step 4).
UuidCompareResult CompareSameGeneration(const UuidSide& self, const UuidSide& peer,
                                        bool resolve_conflicts) {
  // 4a: a resync between us finished, but one end never learned it. The side
  // that finished as source stays source (the bits it still has are exactly
  // what the target may lack); the one that finished as target is target.
  const bool i_should_source =
      Has(self, kUuidFlagMissedFinishSource) || Has(peer, kUuidFlagMissedFinishTarget);
  const bool i_should_target =
      Has(self, kUuidFlagMissedFinishTarget) || Has(peer, kUuidFlagMissedFinishSource);
  if (i_should_source || i_should_target) {
    const bool source = i_should_source && i_should_target ? resolve_conflicts : i_should_source;
    return source ? Result(SyncStrategy::kSourceUseBitmap, 4, "sync-source-missed-finish")
                  : Result(SyncStrategy::kTargetUseBitmap, 4, "sync-target-missed-finish");
  }

  const bool self_reconnect = Has(self, kUuidFlagReconnect);
  const bool peer_reconnect = Has(peer, kUuidFlagReconnect);
  const bool self_crashed = Has(self, kUuidFlagCrashedPrimary);
  const bool peer_crashed = Has(peer, kUuidFlagCrashedPrimary);

  // 4b: we lost each other without restarting; nothing was written in between
  // (no new generation), so nothing can differ.
  if (self_reconnect && peer_reconnect) {
    return Result(SyncStrategy::kNoSync, 4, "reconnected");
  }

  // 4d: a Primary that lost quorum may hold local-only writes, and nobody
  // started a newer generation, so its data wins (§7.4).
  const bool self_lq = Has(self, kUuidFlagPrimaryLostQuorum);
  const bool peer_lq = Has(peer, kUuidFlagPrimaryLostQuorum);
  if (self_lq || peer_lq) {
    const bool source = self_lq && peer_lq ? resolve_conflicts : self_lq;
    return Result(source ? SyncStrategy::kSourceIfBothFailed : SyncStrategy::kTargetIfBothFailed, 4,
                  "lost-quorum");
  }

  // 4e: the survivor saw the Primary crash (RECONNECT); with protocol C it has
  // every acknowledged write, the crashed side may have extra unacknowledged
  // ones in its activity log, so the survivor is source.
  if (peer_crashed && self_reconnect) {
    return Result(SyncStrategy::kSourceIfBothFailed, 4, "reconnected");
  }
  if (self_crashed && peer_reconnect) {
    return Result(SyncStrategy::kTargetIfBothFailed, 4, "reconnected");
  }

  // 4f: one side merely lost the connection; the other restarted cleanly.
  if (self_reconnect || peer_reconnect) {
    return Result(SyncStrategy::kNoSync, 4, "reconnected");
  }

  // 4g: common power failure. The crashed Primary is source; if both were
  // Primary, tie-break. Without flags this is the day-0 case: same generation,
  // NO_SYNC (hence the UUID bump on the first write after promotion, §5.2).
  if (self_crashed && peer_crashed) {
    return Result(
        resolve_conflicts ? SyncStrategy::kSourceIfBothFailed : SyncStrategy::kTargetIfBothFailed,
        4, "both-off");
  }
  if (self_crashed) return Result(SyncStrategy::kSourceIfBothFailed, 4, "both-off");
  if (peer_crashed) return Result(SyncStrategy::kTargetIfBothFailed, 4, "both-off");
  return Result(SyncStrategy::kNoSync, 4, "both-off");
}

}  // namespace

UuidCompareResult UuidCompare(const UuidSide& self, const UuidSide& peer, bool resolve_conflicts) {
  // REQUIRES: two distinct nodes of one resource.
  TANDEM_CHECK(self.node_id.value() < kMaxNodes && peer.node_id.value() < kMaxNodes);
  TANDEM_CHECK(self.node_id != peer.node_id);
  const uint64_t s = EffectiveCurrent(self);
  const uint64_t p = EffectiveCurrent(peer);

  // Rule 0 (initial-handshake-changed) needs the message history of the
  // connection attempt; the caller checks it before calling us.

  // Rules 1..3: fresh metadata has no data worth keeping.
  if (s == kUuidJustCreated && p == kUuidJustCreated) {
    return Result(SyncStrategy::kNoSync, 1, "just-created-both");
  }
  if (s == kUuidJustCreated) return Result(SyncStrategy::kTargetSetBitmap, 2, "just-created-self");
  if (p == kUuidJustCreated) return Result(SyncStrategy::kSourceSetBitmap, 3, "just-created-peer");

  // Rule 4 (4a..4g).
  if (s == p) return CompareSameGeneration(self, peer, resolve_conflicts);

  // Rules 5..8: one side tracked its changes since the other's generation.
  // Rules 5/6 say "I am behind", rules 7/8 "the peer is behind"; end A's rule 5
  // is end B's rule 7 and A's 6 is B's 8. With consistent genealogies at most
  // one direction matches. If both do (a contradictory genealogy, e.g. each
  // holds the other's current UUID as its bitmap UUID), evaluating strictly in
  // table order would make both ends SyncTarget; we break that tie like every
  // other: the resolve_conflicts end takes its source rule (7/8), the other end
  // its target rule (5/6).
  const bool bitmap_peer = BitmapUuidFor(peer, self.node_id) == s;
  const int bitmap_peer_other = ThirdNodeSlotMatching(peer, self.node_id, s);
  const bool bitmap_self = BitmapUuidFor(self, peer.node_id) == p;
  const int bitmap_self_other = ThirdNodeSlotMatching(self, peer.node_id, p);
  const bool behind = bitmap_peer || bitmap_peer_other >= 0;
  const bool ahead = bitmap_self || bitmap_self_other >= 0;
  if (behind && (!ahead || !resolve_conflicts)) {
    if (bitmap_peer) return Result(SyncStrategy::kTargetUseBitmap, 5, "bitmap-peer");
    return Result(SyncStrategy::kTargetClearBitmap, 6, "bitmap-peer-other", bitmap_peer_other);
  }
  if (ahead) {
    if (bitmap_self) return Result(SyncStrategy::kSourceUseBitmap, 7, "bitmap-self");
    return Result(SyncStrategy::kSourceCopyBitmap, 8, "bitmap-self-other", bitmap_self_other);
  }

  // Rule 9: one generation descends from the other, but no bitmap covers the
  // gap: full sync. If each is in the other's history the genealogy is
  // contradictory and we fall through to the split-brain rules.
  const bool self_in_peer_history = InHistory(peer, s);
  const bool peer_in_self_history = InHistory(self, p);
  if (self_in_peer_history && !peer_in_self_history) {
    return Result(SyncStrategy::kTargetSetBitmap, 9, "history-peer");
  }
  if (peer_in_self_history && !self_in_peer_history) {
    return Result(SyncStrategy::kSourceSetBitmap, 9, "history-self");
  }

  // Rule 10: both diverged from the same parent and both kept bitmaps since.
  const uint64_t self_bm = BitmapUuidFor(self, peer.node_id);
  if (self_bm != 0 && self_bm == BitmapUuidFor(peer, self.node_id)) {
    return Result(SyncStrategy::kSplitBrainAutoRecover, 10, "bitmap-both");
  }

  // Rule 11: related, but the bitmaps do not describe the divergence.
  if (CommonHistory(self, peer)) {
    return Result(SyncStrategy::kSplitBrainDisconnect, 11, "history-both");
  }

  // Rule 12.
  return Result(SyncStrategy::kUnrelatedData, 12, "unrelated-data");
}

namespace {

bool IsSource(SyncStrategy s) {
  return s == SyncStrategy::kSourceUseBitmap || s == SyncStrategy::kSourceSetBitmap ||
         s == SyncStrategy::kSourceCopyBitmap || s == SyncStrategy::kSourceIfBothFailed;
}

bool IsTarget(SyncStrategy s) {
  return s == SyncStrategy::kTargetUseBitmap || s == SyncStrategy::kTargetSetBitmap ||
         s == SyncStrategy::kTargetClearBitmap || s == SyncStrategy::kTargetIfBothFailed;
}

bool IsIfBothFailed(SyncStrategy s) {
  return s == SyncStrategy::kSourceIfBothFailed || s == SyncStrategy::kTargetIfBothFailed;
}

bool UsableDisk(DiskState d) { return d >= DiskState::kInconsistent && d != DiskState::kDUnknown; }

// Post-processing 1 (disk_states_to_strategy, simplified): with equal
// generations the disk states can still tell who has good data. Applies when
// both disks are known and usable but differ, and either the rule gave an
// _IF_BOTH_FAILED direction or NO_SYNC with exactly one side Inconsistent. The
// higher disk state is source; a JUST_CREATED target gets a full sync since it
// has no bitmap history, otherwise the bitmap is used.
SyncStrategy DiskStateOverride(const UuidSide& self, const UuidSide& peer, SyncStrategy s) {
  if (!UsableDisk(self.disk) || !UsableDisk(peer.disk) || self.disk == peer.disk) return s;
  // A Primary serving from its own UpToDate disk is followed, not overridden.
  if (IsIfBothFailed(s) && ((self.primary && self.disk == DiskState::kUpToDate) ||
                            (peer.primary && peer.disk == DiskState::kUpToDate)))
    return s;
  const bool one_inconsistent =
      (self.disk == DiskState::kInconsistent) != (peer.disk == DiskState::kInconsistent);
  if (!IsIfBothFailed(s) && !(s == SyncStrategy::kNoSync && one_inconsistent)) return s;
  const bool i_am_source = self.disk > peer.disk;
  const UuidSide& target = i_am_source ? peer : self;
  const bool full = EffectiveCurrent(target) == kUuidJustCreated;
  if (i_am_source) return full ? SyncStrategy::kSourceSetBitmap : SyncStrategy::kSourceUseBitmap;
  return full ? SyncStrategy::kTargetSetBitmap : SyncStrategy::kTargetUseBitmap;
}

// strategy_to_repl_state for *_IF_BOTH_FAILED: a Primary's data is what the
// application sees, so follow it; the rule's direction only counts when nobody
// is Primary. Two Primaries: neither can be overwritten, so no sync.
SyncStrategy FollowPrimary(const UuidSide& self, const UuidSide& peer, SyncStrategy s) {
  if (!IsIfBothFailed(s)) return s;
  if (self.primary && peer.primary) return SyncStrategy::kNoSync;
  if (self.primary) return SyncStrategy::kSourceUseBitmap;
  if (peer.primary) return SyncStrategy::kTargetUseBitmap;
  return s == SyncStrategy::kSourceIfBothFailed ? SyncStrategy::kSourceUseBitmap
                                                : SyncStrategy::kTargetUseBitmap;
}

// Split-brain verdicts from self's point of view.
enum class Verdict { kUndecided, kSelfSource, kSelfTarget };

Verdict Tie(bool resolve_conflicts) {
  return resolve_conflicts ? Verdict::kSelfSource : Verdict::kSelfTarget;
}

// drbd_asb_recover_0p (§6). "Was Primary at the split" is bit 0 of the bitmap
// UUID a side keeps for the other: it was written when that side started the
// diverging generation. "Changes" are the set bits of a side's slot for the
// other.
Verdict Recover0p(AfterSb0 policy, const UuidSide& self, const UuidSide& peer,
                  bool resolve_conflicts) {
  const bool self_was_primary = (self.bitmap_uuids[peer.node_id.value()] & kUuidPrimaryBit) != 0;
  const bool peer_was_primary = (peer.bitmap_uuids[self.node_id.value()] & kUuidPrimaryBit) != 0;
  const uint64_t ch_self = self.dirty_bits;
  const uint64_t ch_peer = peer.dirty_bits;
  switch (policy) {
    case AfterSb0::kDisconnect:
      return Verdict::kUndecided;
    case AfterSb0::kDiscardYoungerPrimary:
    case AfterSb0::kDiscardOlderPrimary:
      if (self_was_primary != peer_was_primary) {
        // Younger = became Primary after the split, i.e. not Primary at it.
        const bool discard_self =
            policy == AfterSb0::kDiscardYoungerPrimary ? !self_was_primary : self_was_primary;
        return discard_self ? Verdict::kSelfTarget : Verdict::kSelfSource;
      }
      [[fallthrough]];  // undecided: zero-changes, then least-changes
    case AfterSb0::kDiscardZeroChanges:
      if (ch_self == 0 && ch_peer == 0) return Tie(resolve_conflicts);
      if (ch_peer == 0) return Verdict::kSelfSource;
      if (ch_self == 0) return Verdict::kSelfTarget;
      if (policy == AfterSb0::kDiscardZeroChanges) return Verdict::kUndecided;
      [[fallthrough]];
    case AfterSb0::kDiscardLeastChanges:
      if (ch_self < ch_peer) return Verdict::kSelfTarget;
      if (ch_self > ch_peer) return Verdict::kSelfSource;
      return Tie(resolve_conflicts);
  }
  return Verdict::kUndecided;
}

// drbd_asb_recover_1p. kCallPriLostAfterSb is treated like violently-as0p: the
// 0pri verdict stands, and if it makes the Primary the target the rr-conflict
// check below reports it; demoting the Primary or running the
// pri-lost-after-sb handler is the engine's business, not this function's.
Verdict Recover1p(const HandshakePolicy& policy, const UuidSide& self, const UuidSide& peer,
                  bool resolve_conflicts) {
  switch (policy.after_sb_1pri) {
    case AfterSb1::kDisconnect:
      return Verdict::kUndecided;
    case AfterSb1::kConsensus: {
      const Verdict v = Recover0p(policy.after_sb_0pri, self, peer, resolve_conflicts);
      // Accept only a verdict that discards the Secondary.
      if (v == Verdict::kSelfTarget && !self.primary) return v;
      if (v == Verdict::kSelfSource && self.primary) return v;
      return Verdict::kUndecided;
    }
    case AfterSb1::kDiscardSecondary:
      return self.primary ? Verdict::kSelfSource : Verdict::kSelfTarget;
    case AfterSb1::kCallPriLostAfterSb:
    case AfterSb1::kViolentlyAs0p:
      return Recover0p(policy.after_sb_0pri, self, peer, resolve_conflicts);
  }
  return Verdict::kUndecided;
}

// drbd_asb_recover_2p; kCallPriLostAfterSb as in Recover1p.
Verdict Recover2p(const HandshakePolicy& policy, const UuidSide& self, const UuidSide& peer,
                  bool resolve_conflicts) {
  switch (policy.after_sb_2pri) {
    case AfterSb2::kDisconnect:
      return Verdict::kUndecided;
    case AfterSb2::kViolentlyAs0p:
    case AfterSb2::kCallPriLostAfterSb:
      return Recover0p(policy.after_sb_0pri, self, peer, resolve_conflicts);
  }
  return Verdict::kUndecided;
}

std::string RuleText(const UuidCompareResult& c) {
  return std::string("uuid_compare()=") + SyncStrategyName(c.strategy) + " by rule=" + c.rule_name;
}

}  // namespace

HandshakeDecision DecideSync(const UuidSide& self, const UuidSide& peer,
                             const HandshakePolicy& policy, bool resolve_conflicts) {
  HandshakeDecision d;
  d.compare = UuidCompare(self, peer, resolve_conflicts);
  d.reason = RuleText(d.compare);

  SyncStrategy s = d.compare.strategy;
  int other_node = d.compare.other_node;

  // Post-processing 1, then the *_IF_BOTH_FAILED mapping (strategy_to_repl_state
  // runs on the final strategy in DRBD; nothing in between produces or consumes
  // *_IF_BOTH_FAILED, so mapping it here is equivalent).
  const SyncStrategy overridden = DiskStateOverride(self, peer, s);
  if (overridden != s) {
    d.reason += "; disk states override: " + std::string(DiskStateName(self.disk)) + " vs peer " +
                DiskStateName(peer.disk) + " => " + SyncStrategyName(overridden);
    s = overridden;
  }
  if (IsIfBothFailed(s)) {
    const SyncStrategy followed = FollowPrimary(self, peer, s);
    if (self.primary || peer.primary) d.reason += "; following the Primary";
    s = followed;
  }

  // Split brain (§6). Post-processing 2 (ignore AUTO_RECOVER while a side is
  // not "stable") needs cluster-wide state the caller has; like rule 0 it is
  // the caller's business.
  if (s == SyncStrategy::kSplitBrainAutoRecover || s == SyncStrategy::kSplitBrainDisconnect) {
    d.split_brain_detected = true;
    const bool unrelated_parents = s == SyncStrategy::kSplitBrainDisconnect;
    const int primaries = (self.primary ? 1 : 0) + (peer.primary ? 1 : 0);
    Verdict v = Verdict::kUndecided;
    std::string how;
    // With quorum, majorities intersect: every acknowledged write is on the
    // quorate side, so it wins even over unrelated bitmap parents (then by a
    // full sync, below).
    const bool self_lq = Has(self, kUuidFlagPrimaryLostQuorum);
    const bool peer_lq = Has(peer, kUuidFlagPrimaryLostQuorum);
    if (policy.quorum_enabled && self_lq != peer_lq) {
      // The Primary that lost quorum holds only writes that failed; the
      // partition that kept quorum started the newer generation (§7.4). This
      // holds even once the old Primary regained quorum through another peer.
      v = self_lq ? Verdict::kSelfTarget : Verdict::kSelfSource;
      how = "solved by quorum (lost as Primary)";
    } else if (policy.quorum_enabled && self.has_quorum != peer.has_quorum) {
      v = self.has_quorum ? Verdict::kSelfSource : Verdict::kSelfTarget;
      how = "solved by quorum";
    } else if (!unrelated_parents || policy.always_asbp) {
      {
        switch (primaries) {
          case 0:
            v = Recover0p(policy.after_sb_0pri, self, peer, resolve_conflicts);
            break;
          case 1:
            v = Recover1p(policy, self, peer, resolve_conflicts);
            break;
          default:
            v = Recover2p(policy, self, peer, resolve_conflicts);
            break;
        }
        how = "automatically solved";
      }
    }
    if (v != Verdict::kUndecided) {
      d.reason = "Split-Brain detected, " + std::to_string(primaries) + " primaries, " + how +
                 ". Sync from " + (v == Verdict::kSelfSource ? "this" : "peer") + " node";
      if (unrelated_parents) d.reason += ". Doing a full sync, since UUIDs were ambiguous";
    } else {
      // Post-processing 4: --discard-my-data on exactly one side names the victim.
      const bool self_dmd = Has(self, kUuidFlagDiscardMyData);
      const bool peer_dmd = Has(peer, kUuidFlagDiscardMyData);
      if (self_dmd != peer_dmd) {
        v = self_dmd ? Verdict::kSelfTarget : Verdict::kSelfSource;
        d.reason = std::string("Split-Brain detected, manually solved (--discard-my-data on ") +
                   (self_dmd ? "this" : "peer") + " node). Sync from " +
                   (v == Verdict::kSelfSource ? "this" : "peer") + " node";
      }
    }
    if (v == Verdict::kUndecided) {
      d.outcome = HandshakeOutcome::kSplitBrain;
      d.reason = "Split-Brain detected but unresolved, dropping connection!";
      return d;
    }
    // Same parent: the two bitmaps together cover the divergence. Unrelated
    // parents: only a full sync is safe.
    if (v == Verdict::kSelfSource) {
      s = unrelated_parents ? SyncStrategy::kSourceSetBitmap : SyncStrategy::kSourceUseBitmap;
    } else {
      s = unrelated_parents ? SyncStrategy::kTargetSetBitmap : SyncStrategy::kTargetUseBitmap;
    }
    other_node = -1;
  }

  switch (s) {
    case SyncStrategy::kUnrelatedData:
      d.outcome = HandshakeOutcome::kUnrelatedData;
      d.reason = "Unrelated data, aborting!";
      return d;
    case SyncStrategy::kRetryConnect:
      d.outcome = HandshakeOutcome::kRetryConnect;
      return d;
    case SyncStrategy::kNoSync:
      d.outcome = HandshakeOutcome::kNoSync;
      d.bitmap = BitmapPrep::kUse;
      return d;
    default:
      break;
  }

  TANDEM_CHECK_MSG(IsSource(s) || IsTarget(s), "DecideSync: unmapped strategy");
  // Post-processing 4, second half (proto >= 121): --discard-my-data on the
  // side that would be source reverses the direction, provided the new source
  // has usable data. The reversed sync uses both bitmaps; with a copy/clear
  // plan the bits are not trustworthy in the other direction, so it is full.
  {
    const bool self_dmd = Has(self, kUuidFlagDiscardMyData);
    const bool peer_dmd = Has(peer, kUuidFlagDiscardMyData);
    const bool reverse = self_dmd != peer_dmd &&
                         ((IsSource(s) && self_dmd && peer.disk > DiskState::kInconsistent) ||
                          (IsTarget(s) && peer_dmd && self.disk > DiskState::kInconsistent));
    if (reverse) {
      const bool was_set =
          s == SyncStrategy::kSourceSetBitmap || s == SyncStrategy::kTargetSetBitmap;
      const bool use = s == SyncStrategy::kSourceUseBitmap || s == SyncStrategy::kTargetUseBitmap;
      const bool now_source = IsTarget(s);
      s = now_source
              ? (use && !was_set ? SyncStrategy::kSourceUseBitmap : SyncStrategy::kSourceSetBitmap)
              : (use && !was_set ? SyncStrategy::kTargetUseBitmap : SyncStrategy::kTargetSetBitmap);
      other_node = -1;
      d.reason += "; Resync direction reversed by --discard-my-data. Reverting to older data!";
    }
  }
  d.outcome = IsSource(s) ? HandshakeOutcome::kBecomeSource : HandshakeOutcome::kBecomeTarget;
  switch (s) {
    case SyncStrategy::kSourceSetBitmap:
    case SyncStrategy::kTargetSetBitmap:
      d.bitmap = BitmapPrep::kSetAll;
      break;
    case SyncStrategy::kSourceCopyBitmap:
      d.bitmap = BitmapPrep::kCopyFromOther;
      d.other_node = other_node;
      break;
    case SyncStrategy::kTargetClearBitmap:
      d.bitmap = BitmapPrep::kClear;
      d.other_node = other_node;
      break;
    default:
      d.bitmap = BitmapPrep::kUse;
      break;
  }

  // Post-processing 6, rr-conflict (§1.4): the resync would overwrite data a
  // Primary is serving. Both ends see the same roles and the same sync volume,
  // so both reach the same verdict.
  // A Primary whose own disk is not UpToDate serves from its peers; resyncing
  // its disk overwrites nothing the application sees.
  const bool primary_overwritten = (d.outcome == HandshakeOutcome::kBecomeTarget && self.primary &&
                                    self.disk == DiskState::kUpToDate) ||
                                   (d.outcome == HandshakeOutcome::kBecomeSource && peer.primary &&
                                    peer.disk == DiskState::kUpToDate);
  const bool something_to_sync =
      d.bitmap != BitmapPrep::kUse || self.dirty_bits + peer.dirty_bits > 0;
  if (primary_overwritten && something_to_sync) {
    const std::string who = self.primary && d.outcome == HandshakeOutcome::kBecomeTarget
                                ? "I shall become SyncTarget, but I am primary!"
                                : "The peer shall become SyncTarget, but it is primary!";
    if (policy.rr_conflict == RrConflict::kRetryConnect) {
      d.outcome = HandshakeOutcome::kRetryConnect;
      d.reason = who + " (rr-conflict retry-connect) after " + d.reason;
    } else {
      d.outcome = HandshakeOutcome::kRrConflict;
      d.reason = who + " (rr-conflict disconnect) after " + d.reason;
    }
    d.bitmap = BitmapPrep::kUse;
    d.other_node = -1;
  }
  return d;
}

int CompareDagtags(const UuidSide& self, const UuidSide& peer) {
  bool ahead = false;
  bool behind = false;
  for (int i = 0; i < kMaxNodes; ++i) {
    if (i == self.node_id.value() || i == peer.node_id.value()) continue;
    const uint64_t mine = self.dagtags[i];
    const uint64_t theirs = peer.dagtags[i];
    if (mine == 0 || theirs == 0) continue;
    ahead |= mine > theirs;
    behind |= mine < theirs;
  }
  if (ahead == behind) return 0;
  return ahead ? 1 : -1;
}

const char* SyncStrategyName(SyncStrategy s) {
  switch (s) {
    case SyncStrategy::kRetryConnect:
      return "retry-connect";
    case SyncStrategy::kNoSync:
      return "no-sync";
    case SyncStrategy::kSourceUseBitmap:
      return "SyncSource-use-bitmap";
    case SyncStrategy::kSourceSetBitmap:
      return "SyncSource-set-bitmap";
    case SyncStrategy::kSourceCopyBitmap:
      return "SyncSource-copy-other-bitmap";
    case SyncStrategy::kSourceIfBothFailed:
      return "SyncSource-if-both-failed";
    case SyncStrategy::kTargetUseBitmap:
      return "SyncTarget-use-bitmap";
    case SyncStrategy::kTargetSetBitmap:
      return "SyncTarget-set-bitmap";
    case SyncStrategy::kTargetClearBitmap:
      return "SyncTarget-clear-bitmap";
    case SyncStrategy::kTargetIfBothFailed:
      return "SyncTarget-if-both-failed";
    case SyncStrategy::kSplitBrainAutoRecover:
      return "split-brain-auto-recover";
    case SyncStrategy::kSplitBrainDisconnect:
      return "split-brain-disconnect";
    case SyncStrategy::kUnrelatedData:
      return "unrelated-data";
  }
  return "?";
}

const char* HandshakeOutcomeName(HandshakeOutcome o) {
  switch (o) {
    case HandshakeOutcome::kNoSync:
      return "NoSync";
    case HandshakeOutcome::kBecomeSource:
      return "BecomeSource";
    case HandshakeOutcome::kBecomeTarget:
      return "BecomeTarget";
    case HandshakeOutcome::kSplitBrain:
      return "SplitBrain";
    case HandshakeOutcome::kUnrelatedData:
      return "UnrelatedData";
    case HandshakeOutcome::kRetryConnect:
      return "RetryConnect";
    case HandshakeOutcome::kRrConflict:
      return "RrConflict";
  }
  return "?";
}

}  // namespace tandem::engine
