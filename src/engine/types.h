// Engine vocabulary: roles, disk, connection and replication states, refusal
// codes and per-resource options. Numeric order of the state enums matters: the
// engine compares them with < and >, as DRBD does (drbd-semantics.md §2.1).
#pragma once

#include <cstdint>
#include <string>

#include "common/ids.h"

namespace tandem::engine {

using Time = int64_t;  // nanoseconds of the host's monotonic clock
inline constexpr Time kMs = 1'000'000;
inline constexpr Time kSec = 1'000'000'000;

enum class Role : uint8_t { kUnknown = 0, kPrimary = 1, kSecondary = 2 };

enum class ConnState : uint8_t {
  kStandAlone,
  kDisconnecting,
  kUnconnected,
  kTimeout,
  kBrokenPipe,
  kNetworkFailure,
  kProtocolError,
  kTearDown,
  kConnecting,
  kConnected,
};

enum class ReplState : uint8_t {
  kOff,
  kEstablished,
  kStartingSyncS,
  kStartingSyncT,
  kWFBitMapS,
  kWFBitMapT,
  kWFSyncUUID,
  kSyncSource,
  kSyncTarget,
  kVerifyS,
  kVerifyT,
  kPausedSyncS,
  kPausedSyncT,
  kAhead,
  kBehind,
};

enum class DiskState : uint8_t {
  kDiskless,
  kAttaching,
  kDetaching,
  kFailed,
  kNegotiating,
  kInconsistent,
  kOutdated,
  kDUnknown,
  kConsistent,
  kUpToDate,
};

// Why a state change was refused. Mirrors DRBD's SS_* codes.
enum class SsCode : int8_t {
  kSuccess = 1,
  kNothingToDo = 2,
  kTwoPrimaries = -1,
  kNoUpToDateDisk = -2,
  kNoLocalDisk = -3,
  kNoRemoteDisk = -4,
  kDeviceInUse = -5,
  kLowerThanOutdated = -6,
  kAlreadyStandAlone = -7,
  kInTransientState = -8,
  kNoQuorum = -9,
  kWeaklyConnected = -10,
  kConnectedOutdates = -11,
  kNoVerifyAlg = -12,
  kResizeResync = -13,
  kNoPrimary = -14,
  kPrimaryReader = -15,
  kTimeout = -16,
  kConcurrentStChg = -17,
  kNotSupported = -18,
  kInvalidArgument = -19,
  kShrink = -20,
  kNotConnected = -21,
  kUnknownPeer = -22,
  kDataNotCurrent = -23,
};

enum class WireProtocol : uint8_t { kA = 1, kC = 3 };
enum class OnNoQuorum : uint8_t { kIoError, kSuspendIo };
enum class AfterSb0 : uint8_t {
  kDisconnect,
  kDiscardYoungerPrimary,
  kDiscardOlderPrimary,
  kDiscardZeroChanges,
  kDiscardLeastChanges,
};
enum class AfterSb1 : uint8_t {
  kDisconnect,
  kConsensus,
  kDiscardSecondary,
  kCallPriLostAfterSb,
  kViolentlyAs0p,
};
enum class AfterSb2 : uint8_t { kDisconnect, kViolentlyAs0p, kCallPriLostAfterSb };
enum class RrConflict : uint8_t { kDisconnect, kRetryConnect };

// quorum: 0 = off, kQuorumMajority, kQuorumAll, or a node count >= 1.
inline constexpr int kQuorumOff = 0;
inline constexpr int kQuorumMajority = -1;
inline constexpr int kQuorumAll = -2;

// All knobs of one resource, with DRBD's defaults (options man page). Times are
// in nanoseconds; rates in KiB/s. Validate() rejects values out of range.
struct Options {
  WireProtocol protocol = WireProtocol::kC;
  bool allow_two_primaries = false;
  AfterSb0 after_sb_0pri = AfterSb0::kDisconnect;
  AfterSb1 after_sb_1pri = AfterSb1::kDisconnect;
  AfterSb2 after_sb_2pri = AfterSb2::kDisconnect;
  bool always_asbp = false;
  RrConflict rr_conflict = RrConflict::kDisconnect;
  int quorum = kQuorumOff;
  int quorum_minimum_redundancy = kQuorumOff;
  OnNoQuorum on_no_quorum = OnNoQuorum::kSuspendIo;
  bool auto_promote = true;
  Time auto_promote_timeout = 2 * kSec;
  uint32_t max_epoch_size = 2048;
  Time timeout = 6 * kSec;  // expected reply missing => connection dropped
  Time ping_int = 10 * kSec;
  Time ping_timeout = 500 * kMs;
  uint32_t ko_count = 7;
  Time connect_int = 10 * kSec;  // retry interval for Connecting
  Time twopc_timeout = 30 * kSec;
  Time twopc_retry_timeout = 100 * kMs;
  uint32_t al_extents = 1237;
  bool verify_alg = true;    // online verify allowed
  bool csums = false;        // checksum-based resync
  bool disk_flushes = true;  // flush at epoch barriers on receivers
  // Detach when the backing device has not completed an I/O for this long
  // (0 = off, DRBD's default; dangerous on devices that are only slow).
  Time disk_timeout = 0;
  // resync rate controller (drbd-semantics.md §8.2)
  uint32_t resync_rate_kib = 250;
  uint32_t c_plan_ahead = 20;  // 0.1 s units; 0 = fixed rate
  uint32_t c_fill_target_sectors = 100;
  uint32_t c_delay_target = 10;  // 0.1 s units
  uint32_t c_max_rate_kib = 102400;
  uint32_t c_min_rate_kib = 250;
  uint32_t max_buffers = 2048;  // 4 KiB pages

  std::string Validate() const;  // empty when valid, else what is wrong
};

const char* RoleName(Role r);
const char* ConnStateName(ConnState s);
const char* ReplStateName(ReplState s);
const char* DiskStateName(DiskState s);
const char* SsCodeName(SsCode c);
const char* SsCodeMessage(SsCode c);  // DRBD-like readable text

}  // namespace tandem::engine
