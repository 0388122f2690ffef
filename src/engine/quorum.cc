// calc_quorum (drbd-semantics.md §7.2), implemented literally: classify every
// node, derive voters and thresholds, then apply quorumless tracking and the
// sticky diskless tiebreaker.
#include "engine/quorum.h"

#include <string>

namespace tandem::engine {
namespace {

// The threshold an option value demands of `voters`: majority, all, or a fixed
// count. kQuorumOff demands nothing.
int Threshold(int option, int voters) {
  switch (option) {
    case kQuorumOff:
      return 0;
    case kQuorumMajority:
      return voters / 2 + 1;
    case kQuorumAll:
      return voters;
    default:
      return option;
  }
}

// A local disk counts as "present" once it is attached; below Negotiating it
// is absent, failing or being torn down.
bool Attached(DiskState d) { return d >= DiskState::kNegotiating; }

}  // namespace

QuorumResult CalcQuorum(const QuorumInput& in) {
  QuorumResult r;
  int quorate_peers = 0;  // only meaningful for a diskless self

  if (!in.self_diskless) {
    if (in.self_disk == DiskState::kUpToDate) {
      ++r.up_to_date;
    } else if (Attached(in.self_disk)) {
      ++r.present;
    }
  }

  for (const QuorumPeer& p : in.peers) {
    // Peers that may not serve data, and diskless peers that may not break
    // ties, do not take part at all.
    if (!p.allow_remote_read) continue;
    if (p.intentional_diskless && !p.tiebreaker) continue;
    if (p.connected) {
      if (p.intentional_diskless) {
        ++r.diskless;
      } else if (p.disk == DiskState::kUpToDate) {
        ++r.up_to_date;
        if (p.has_quorum) ++quorate_peers;
      } else {
        ++r.present;
      }
    } else if (p.intentional_diskless) {
      ++r.missing_diskless;
    } else if (p.disk <= DiskState::kOutdated || p.outdated_flag) {
      // Known not to hold current data (gracefully left, or fenced): it cannot
      // form a competing quorum with data.
      ++r.outdated;
    } else if (p.quorumless) {
      ++r.quorumless;
    } else {
      ++r.unknown;
    }
  }

  r.voters = r.outdated + r.quorumless + r.unknown + r.up_to_date + r.present;
  r.quorum_at = Threshold(in.quorum, r.voters);
  // Quorumless tracking: a node known to have left our quorate partition
  // without quorum cannot help the others form one, so it need not be feared.
  // But if the missing nodes could reach the threshold among themselves, we
  // cannot rely on that knowledge: count the quorumless ones as unknown.
  if (r.outdated + r.quorumless + r.unknown >= r.quorum_at) {
    r.unknown += r.quorumless;
    r.quorumless = 0;
  }
  // With nobody unknown, every missing node is accounted for (outdated or
  // quorumless) and drops out of the vote: this is "last man standing".
  r.voters = r.unknown > 0 ? r.outdated + r.quorumless + r.unknown + r.up_to_date + r.present
                           : r.up_to_date + r.present;
  r.quorum_at = Threshold(in.quorum, r.voters);
  r.min_redundancy_at = Threshold(in.minimum_redundancy, r.voters);

  if (in.quorum == kQuorumOff) {
    r.have_quorum = true;
    return r;
  }

  if (in.self_diskless) {
    // A diskless node has no vote of its own: it has quorum exactly when it
    // reaches a data node that has quorum.
    r.have_quorum = quorate_peers > 0;
    return r;
  }

  const int visible = r.up_to_date + r.present;
  r.have_quorum = visible >= r.quorum_at && r.up_to_date >= r.min_redundancy_at;

  // Diskless tiebreaker: with an even number of voters split in half, the half
  // that sees most diskless nodes keeps quorum. Only to keep it (sticky on the
  // previous result): a node that already lost quorum cannot regain it via a
  // diskless node, so a tiebreaker that switches sides never makes two quorate
  // partitions.
  if (!r.have_quorum && r.voters > 0 && r.voters % 2 == 0 && visible == r.quorum_at - 1 &&
      r.diskless >= (r.diskless + r.missing_diskless) / 2 + 1 && in.had_quorum) {
    r.have_quorum = true;
    r.by_tiebreaker = true;
  }
  return r;
}

std::string QuorumResult::Explain() const {
  std::string s = std::to_string(up_to_date + present) + " of " + std::to_string(voters) +
                  " nodes visible, need " + std::to_string(quorum_at);
  if (min_redundancy_at > 0) {
    s += ", " + std::to_string(up_to_date) + " UpToDate, need " + std::to_string(min_redundancy_at);
  }
  if (by_tiebreaker) {
    s += "; kept by diskless tiebreaker (" + std::to_string(diskless) + " of " +
         std::to_string(diskless + missing_diskless) + " diskless visible)";
  }
  s += have_quorum ? ": quorum" : ": no quorum";
  return s;
}

}  // namespace tandem::engine
