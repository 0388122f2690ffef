#include "engine/types.h"

namespace tandem::engine {

const char* RoleName(Role r) {
  switch (r) {
    case Role::kUnknown:
      return "Unknown";
    case Role::kPrimary:
      return "Primary";
    case Role::kSecondary:
      return "Secondary";
  }
  return "?";
}

const char* ConnStateName(ConnState s) {
  switch (s) {
    case ConnState::kStandAlone:
      return "StandAlone";
    case ConnState::kDisconnecting:
      return "Disconnecting";
    case ConnState::kUnconnected:
      return "Unconnected";
    case ConnState::kTimeout:
      return "Timeout";
    case ConnState::kBrokenPipe:
      return "BrokenPipe";
    case ConnState::kNetworkFailure:
      return "NetworkFailure";
    case ConnState::kProtocolError:
      return "ProtocolError";
    case ConnState::kTearDown:
      return "TearDown";
    case ConnState::kConnecting:
      return "Connecting";
    case ConnState::kConnected:
      return "Connected";
  }
  return "?";
}

const char* ReplStateName(ReplState s) {
  switch (s) {
    case ReplState::kOff:
      return "Off";
    case ReplState::kEstablished:
      return "Established";
    case ReplState::kStartingSyncS:
      return "StartingSyncS";
    case ReplState::kStartingSyncT:
      return "StartingSyncT";
    case ReplState::kWFBitMapS:
      return "WFBitMapS";
    case ReplState::kWFBitMapT:
      return "WFBitMapT";
    case ReplState::kWFSyncUUID:
      return "WFSyncUUID";
    case ReplState::kSyncSource:
      return "SyncSource";
    case ReplState::kSyncTarget:
      return "SyncTarget";
    case ReplState::kVerifyS:
      return "VerifyS";
    case ReplState::kVerifyT:
      return "VerifyT";
    case ReplState::kPausedSyncS:
      return "PausedSyncS";
    case ReplState::kPausedSyncT:
      return "PausedSyncT";
    case ReplState::kAhead:
      return "Ahead";
    case ReplState::kBehind:
      return "Behind";
  }
  return "?";
}

const char* DiskStateName(DiskState s) {
  switch (s) {
    case DiskState::kDiskless:
      return "Diskless";
    case DiskState::kAttaching:
      return "Attaching";
    case DiskState::kDetaching:
      return "Detaching";
    case DiskState::kFailed:
      return "Failed";
    case DiskState::kNegotiating:
      return "Negotiating";
    case DiskState::kInconsistent:
      return "Inconsistent";
    case DiskState::kOutdated:
      return "Outdated";
    case DiskState::kDUnknown:
      return "DUnknown";
    case DiskState::kConsistent:
      return "Consistent";
    case DiskState::kUpToDate:
      return "UpToDate";
  }
  return "?";
}

const char* SsCodeName(SsCode c) {
  switch (c) {
    case SsCode::kSuccess:
      return "SS_SUCCESS";
    case SsCode::kNothingToDo:
      return "SS_NOTHING_TO_DO";
    case SsCode::kTwoPrimaries:
      return "SS_TWO_PRIMARIES";
    case SsCode::kNoUpToDateDisk:
      return "SS_NO_UP_TO_DATE_DISK";
    case SsCode::kNoLocalDisk:
      return "SS_NO_LOCAL_DISK";
    case SsCode::kNoRemoteDisk:
      return "SS_NO_REMOTE_DISK";
    case SsCode::kDeviceInUse:
      return "SS_DEVICE_IN_USE";
    case SsCode::kLowerThanOutdated:
      return "SS_LOWER_THAN_OUTDATED";
    case SsCode::kAlreadyStandAlone:
      return "SS_ALREADY_STANDALONE";
    case SsCode::kInTransientState:
      return "SS_IN_TRANSIENT_STATE";
    case SsCode::kNoQuorum:
      return "SS_NO_QUORUM";
    case SsCode::kWeaklyConnected:
      return "SS_WEAKLY_CONNECTED";
    case SsCode::kConnectedOutdates:
      return "SS_CONNECTED_OUTDATES";
    case SsCode::kNoVerifyAlg:
      return "SS_NO_VERIFY_ALG";
    case SsCode::kResizeResync:
      return "ERR_RESIZE_RESYNC";
    case SsCode::kNoPrimary:
      return "ERR_NO_PRIMARY";
    case SsCode::kPrimaryReader:
      return "SS_PRIMARY_READER";
    case SsCode::kTimeout:
      return "SS_TIMEOUT";
    case SsCode::kConcurrentStChg:
      return "SS_CONCURRENT_ST_CHG";
    case SsCode::kNotSupported:
      return "SS_NOT_SUPPORTED";
    case SsCode::kInvalidArgument:
      return "ERR_INVALID_REQUEST";
    case SsCode::kShrink:
      return "ERR_IMPLICIT_SHRINK";
    case SsCode::kNotConnected:
      return "SS_NEED_CONNECTION";
    case SsCode::kUnknownPeer:
      return "ERR_PEER_UNKNOWN";
    case SsCode::kDataNotCurrent:
      return "ERR_DATA_NOT_CURRENT";
  }
  return "?";
}

const char* SsCodeMessage(SsCode c) {
  switch (c) {
    case SsCode::kSuccess:
      return "success";
    case SsCode::kNothingToDo:
      return "nothing to do";
    case SsCode::kTwoPrimaries:
      return "multiple primaries not allowed by config";
    case SsCode::kNoUpToDateDisk:
      return "need access to UpToDate data";
    case SsCode::kNoLocalDisk:
      return "need a local disk";
    case SsCode::kNoRemoteDisk:
      return "need a remote disk";
    case SsCode::kDeviceInUse:
      return "device is held open by someone";
    case SsCode::kLowerThanOutdated:
      return "disk state is lower than outdated";
    case SsCode::kAlreadyStandAlone:
      return "already StandAlone";
    case SsCode::kInTransientState:
      return "state change was refused: in a transient state";
    case SsCode::kNoQuorum:
      return "no quorum";
    case SsCode::kWeaklyConnected:
      return "primaries are not directly connected";
    case SsCode::kConnectedOutdates:
      return "refusing to be Outdated while connected to a Primary";
    case SsCode::kNoVerifyAlg:
      return "no verify-alg configured";
    case SsCode::kResizeResync:
      return "resize not allowed during resync";
    case SsCode::kNoPrimary:
      return "need one Primary or an UpToDate node to resize";
    case SsCode::kPrimaryReader:
      return "a peer has the device open read-only";
    case SsCode::kTimeout:
      return "timeout in the cluster-wide state change";
    case SsCode::kConcurrentStChg:
      return "concurrent state changes detected and aborted";
    case SsCode::kNotSupported:
      return "not supported";
    case SsCode::kInvalidArgument:
      return "invalid argument";
    case SsCode::kShrink:
      return "implicit shrink not allowed";
    case SsCode::kNotConnected:
      return "need a connection";
    case SsCode::kUnknownPeer:
      return "no such peer";
    case SsCode::kDataNotCurrent:
      return "can only attach to the data the Primary exposes";
  }
  return "?";
}

std::string Options::Validate() const {
  if (protocol != WireProtocol::kA && protocol != WireProtocol::kC)
    return "protocol must be A or C";
  if (allow_two_primaries && protocol != WireProtocol::kC)
    return "allow-two-primaries requires protocol C";
  if (quorum < kQuorumAll || quorum > kMaxNodes)
    return "quorum must be off, majority, all or 1..32";
  if (quorum_minimum_redundancy < kQuorumAll || quorum_minimum_redundancy > kMaxNodes)
    return "quorum-minimum-redundancy must be off, majority, all or 1..32";
  if (al_extents < 7 || al_extents > 65536) return "al-extents must be 7..65536";
  if (max_epoch_size < 1 || max_epoch_size > 20000) return "max-epoch-size must be 1..20000";
  if (timeout <= 0 || ping_timeout <= 0 || connect_int <= 0 || twopc_timeout <= 0)
    return "timeouts must be positive";
  if (ko_count > 200) return "ko-count must be 0..200";
  if (disk_timeout < 0) return "disk-timeout must not be negative";
  if (resync_rate_kib < 1) return "resync-rate must be at least 1 KiB/s";
  if (c_plan_ahead > 300) return "c-plan-ahead must be 0..300";
  if (max_buffers < 32) return "max-buffers must be at least 32";
  return "";
}

}  // namespace tandem::engine
