// The connect-time sync decision (drbd-semantics.md §5.4 and §6): which side
// becomes SyncSource, whether the bitmap can be used, split brain, unrelated
// data. Pure functions of both sides' generation UUIDs, flags, roles, disk
// states and policies; both ends compute the same answer from mirrored inputs.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/types.h"

namespace tandem::engine {

inline constexpr uint64_t kUuidJustCreated = 4;
inline constexpr uint64_t kUuidPrimaryBit = 1;

// Flags exchanged in the Uuids message (P_UUIDS110 flags).
enum UuidFlag : uint32_t {
  kUuidFlagDiscardMyData = 1u << 0,
  kUuidFlagCrashedPrimary = 1u << 1,
  kUuidFlagInconsistent = 1u << 2,
  kUuidFlagSkipInitialSync = 1u << 3,
  kUuidFlagNewDatagen = 1u << 4,
  kUuidFlagStable = 1u << 5,
  kUuidFlagGotStable = 1u << 6,
  kUuidFlagResync = 1u << 7,     // a resync towards this peer was running
  kUuidFlagReconnect = 1u << 8,  // I was Connected to you and lost you without restart
  kUuidFlagDisklessPrimary = 1u << 9,
  kUuidFlagPrimaryLostQuorum = 1u << 10,
  kUuidFlagSyncTarget = 1u << 11,          // I am SyncTarget from some node now
  kUuidFlagMissedFinishSource = 1u << 12,  // I finished a resync as source; peer may not know
  kUuidFlagMissedFinishTarget = 1u << 13,  // I finished a resync as target; peer may not know
  // Bit 14 is used by the engine for handshake rounds.
  kUuidFlagUncleanRestart = 1u << 15,  // restarted after a crash; blocks from the AL are unknown
};

enum class SyncStrategy : uint8_t {
  kRetryConnect,
  kNoSync,
  kSourceUseBitmap,
  kSourceSetBitmap,
  kSourceCopyBitmap,  // copy my bitmap for node `other_node` into the peer's slot
  kSourceIfBothFailed,
  kTargetUseBitmap,
  kTargetSetBitmap,
  kTargetClearBitmap,  // the source supplies the bits
  kTargetIfBothFailed,
  kSplitBrainAutoRecover,
  kSplitBrainDisconnect,
  kUnrelatedData,
};

// One side's view, as sent in its Uuids message. bitmap_uuids[i] is the bitmap
// UUID this side keeps for node i (0 = none / in sync).
struct UuidSide {
  NodeId node_id;
  uint64_t current = 0;
  std::array<uint64_t, kMaxNodes> bitmap_uuids{};
  std::vector<uint64_t> history;  // newest first
  uint32_t flags = 0;             // UuidFlag bits
  bool primary = false;           // role now
  DiskState disk = DiskState::kDUnknown;
  uint64_t dirty_bits = 0;  // set bits in this side's slot for the other side
  bool has_quorum = true;
  // dagtags[i]: how far this side got in node i's write stream (0 = unknown).
  std::array<uint64_t, kMaxNodes> dagtags{};
};

struct UuidCompareResult {
  SyncStrategy strategy = SyncStrategy::kNoSync;
  int rule = 0;           // rule number of the §5.4 table (4 for the 4a..4g family)
  std::string rule_name;  // e.g. "bitmap-peer", "just-created-self"
  int other_node = -1;    // node i for the *-other rules
};

// drbd_uuid_compare: the rule table of §5.4, evaluated in order, from `self`'s
// point of view. `resolve_conflicts` breaks ties (true on exactly one end; we
// use the lower node id).
UuidCompareResult UuidCompare(const UuidSide& self, const UuidSide& peer, bool resolve_conflicts);

struct HandshakePolicy {
  AfterSb0 after_sb_0pri = AfterSb0::kDisconnect;
  AfterSb1 after_sb_1pri = AfterSb1::kDisconnect;
  AfterSb2 after_sb_2pri = AfterSb2::kDisconnect;
  bool always_asbp = false;
  RrConflict rr_conflict = RrConflict::kDisconnect;
  bool quorum_enabled = false;
};

enum class HandshakeOutcome : uint8_t {
  kNoSync,         // Established, nothing to sync
  kBecomeSource,   // WFBitMapS
  kBecomeTarget,   // WFBitMapT
  kSplitBrain,     // unresolved: StandAlone
  kUnrelatedData,  // StandAlone
  kRetryConnect,   // back to Connecting
  kRrConflict,     // a Primary would become SyncTarget: disconnect (StandAlone)
};

// What to do with the bitmap of the peer's slot before the exchange.
enum class BitmapPrep : uint8_t { kUse, kSetAll, kCopyFromOther, kClear };

struct HandshakeDecision {
  HandshakeOutcome outcome = HandshakeOutcome::kNoSync;
  BitmapPrep bitmap = BitmapPrep::kUse;
  int other_node = -1;                // for kCopyFromOther
  bool split_brain_detected = false;  // a split brain was seen (resolved or not)
  UuidCompareResult compare;
  std::string reason;  // human-readable, logged as an event
};

// drbd_sync_handshake's decision: UuidCompare plus the post-processing of
// §5.4 (disk-state override, split-brain policies, --discard-my-data,
// rr-conflict).
HandshakeDecision DecideSync(const UuidSide& self, const UuidSide& peer,
                             const HandshakePolicy& policy, bool resolve_conflicts);

// Which side got further in the write stream of a third node (a lost
// Primary), for two sides of equal generations that each hold blocks the other
// may miss (DRBD's reconciliation, drbd-semantics.md §3.6): > 0 if `self` is
// ahead for every third node both have a dagtag of and behind for none, < 0 in
// the mirrored case, 0 if no such node tells them apart or they disagree.
// Dagtags of different nodes are not comparable, nor are zeros (unknown).
int CompareDagtags(const UuidSide& self, const UuidSide& peer);

const char* SyncStrategyName(SyncStrategy s);
const char* HandshakeOutcomeName(HandshakeOutcome o);

}  // namespace tandem::engine
