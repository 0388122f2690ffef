// calc_quorum as DRBD computes it (drbd-semantics.md §7.2): classify every node
// of the resource, derive voters and the quorum threshold, including
// quorumless tracking and the sticky diskless tiebreaker.
#pragma once

#include <string>
#include <vector>

#include "engine/types.h"

namespace tandem::engine {

struct QuorumPeer {
  NodeId id;
  bool connected = false;
  bool intentional_diskless = false;      // a diskless client / tiebreaker
  DiskState disk = DiskState::kDUnknown;  // our view of the peer's disk
  bool outdated_flag = false;             // MDF_PEER_OUTDATED in our metadata
  bool quorumless = false;                // known to have left our quorate partition
  bool tiebreaker = true;                 // a diskless peer may break ties
  bool allow_remote_read = true;          // false: skipped entirely
  bool has_quorum = false;                // for a diskless self: this connected peer reports quorum
};

struct QuorumInput {
  int quorum = kQuorumOff;              // Options::quorum
  int minimum_redundancy = kQuorumOff;  // Options::quorum_minimum_redundancy
  bool self_diskless = false;           // intentional diskless self
  DiskState self_disk = DiskState::kDiskless;
  bool had_quorum = true;         // previous result (tiebreaker stickiness)
  std::vector<QuorumPeer> peers;  // every other node of the resource
};

struct QuorumResult {
  bool have_quorum = true;
  int voters = 0;
  int quorum_at = 0;
  int min_redundancy_at = 0;
  int up_to_date = 0;
  int present = 0;
  int outdated = 0;
  int quorumless = 0;
  int unknown = 0;
  int diskless = 0;
  int missing_diskless = 0;
  bool by_tiebreaker = false;
  // "2 of 3 nodes visible, need 2" style explanation.
  std::string Explain() const;
};

QuorumResult CalcQuorum(const QuorumInput& in);

}  // namespace tandem::engine
