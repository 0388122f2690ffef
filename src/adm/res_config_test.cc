// Specification tests for the .res parser: what each accepted construct means,
// the exact message of every error, unit conversion, host matching, rendering
// and loading from files and directories.
#include "adm/res_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace tandem::adm {
namespace {

using engine::kMs;
using engine::kSec;

// The r0.res example of seed 003, verbatim.
constexpr const char* kSeed003 = R"(# /etc/drbd.d/r0.res

resource r0 {
    meta-disk internal;
    device /dev/drbd0;
    disk /dev/sdb;

    syncer { rate 1000M; }
        net {
                allow-two-primaries;
                after-sb-0pri discard-zero-changes;
                after-sb-1pri discard-secondary;
                after-sb-2pri disconnect;
        }
    startup { become-primary-on both; }

    on node1.mondomaine.net { address 10.0.128.1:7789; }
    on node2.mondomaine.net { address 10.0.128.2:7789; }
}
)";

constexpr const char* kMesh = R"(
common {
  options { quorum majority; on-no-quorum io-error; }
  net { protocol C; }
}
resource data {
  options { quorum-minimum-redundancy 2; auto-promote no; auto-promote-timeout 50; }
  device minor 10;
  meta-disk internal;
  on alpha { node-id 3; address 192.168.1.1:7000; disk /dev/vg0/data; }
  on beta  { node-id 1; address 192.168.1.2:7000; disk /dev/nvme0n1p2; }
  on gamma { node-id 2; address 192.168.1.3:7000; disk none; }
  connection-mesh { hosts alpha beta gamma; }
}
)";

// Parses text that must be valid and returns its single resource.
ResResource ParseOne(const std::string& text) {
  auto file = ParseResString(text, "t.res");
  EXPECT_TRUE(file.ok()) << (file.ok() ? "" : file.error().message);
  if (!file.ok()) return {};
  EXPECT_EQ(file->resources.size(), 1u);
  return file->resources.empty() ? ResResource{} : file->resources[0];
}

// The error message for text that must be rejected.
std::string ErrorOf(const std::string& text) {
  auto file = ParseResString(text, "r0.res");
  EXPECT_FALSE(file.ok()) << "accepted:\n" << text;
  if (file.ok()) return "";
  EXPECT_EQ(file.error().code, Errc::kInvalidArgument);
  return file.error().message;
}

// A two-host resource with `body` inserted at line 2.
std::string TwoHosts(const std::string& body) {
  return "resource r0 {\n" + body +
         "\n  device /dev/drbd0; disk /dev/sdb; meta-disk internal;\n"
         "  on a { address 10.0.0.1:7789; }\n  on b { address 10.0.0.2:7789; }\n}\n";
}

void ExpectRoundTrip(const ResResource& res) {
  const std::string text = RenderResource(res);
  auto again = ParseResString(text, "render.res");
  ASSERT_TRUE(again.ok()) << again.error().message << "\n" << text;
  ASSERT_EQ(again->resources.size(), 1u);
  EXPECT_TRUE(again->resources[0] == res) << text;
  EXPECT_EQ(RenderResource(again->resources[0]), text);
}

// ---- the seed-003 example ----

TEST(ResSeed003, HostsAndAddresses) {
  const ResResource r = ParseOne(kSeed003);
  EXPECT_EQ(r.name, "r0");
  ASSERT_EQ(r.hosts.size(), 2u);
  EXPECT_EQ(r.hosts[0].name, "node1.mondomaine.net");
  EXPECT_EQ(r.hosts[1].name, "node2.mondomaine.net");
  EXPECT_EQ(r.hosts[0].address.host, "10.0.128.1");
  EXPECT_EQ(r.hosts[0].address.port, 7789);
  EXPECT_EQ(r.hosts[0].address.family, "ipv4");
  EXPECT_EQ(r.hosts[1].address.host, "10.0.128.2");
  EXPECT_EQ(r.hosts[1].address.port, 7789);
  EXPECT_EQ(r.hosts[0].node_id, NodeId(0));
  EXPECT_EQ(r.hosts[1].node_id, NodeId(1));
  EXPECT_FALSE(r.hosts[0].node_id_given);
  EXPECT_EQ(r.where.line, 3);
}

TEST(ResSeed003, ImplicitVolumeZeroFromResourceLevel) {
  const ResResource r = ParseOne(kSeed003);
  ASSERT_EQ(r.volumes.size(), 1u);
  EXPECT_EQ(r.volumes[0].vnr, VolumeNr(0));
  for (const auto& h : r.hosts) {
    ASSERT_EQ(h.volumes.size(), 1u);
    const VolumeConfig& v = h.volumes[0];
    EXPECT_EQ(v.vnr, VolumeNr(0));
    EXPECT_EQ(v.device.path, "/dev/drbd0");
    EXPECT_EQ(v.device.EffectivePath(), "/dev/drbd0");
    EXPECT_EQ(v.disk, "/dev/sdb");
    EXPECT_TRUE(v.meta_disk.internal);
    EXPECT_TRUE(v.meta_disk_given);
  }
}

TEST(ResSeed003, NetAndSyncerOptions) {
  const ResResource r = ParseOne(kSeed003);
  const engine::Options& o = r.options;
  EXPECT_TRUE(o.allow_two_primaries);
  EXPECT_EQ(o.after_sb_0pri, engine::AfterSb0::kDiscardZeroChanges);
  EXPECT_EQ(o.after_sb_1pri, engine::AfterSb1::kDiscardSecondary);
  EXPECT_EQ(o.after_sb_2pri, engine::AfterSb2::kDisconnect);
  EXPECT_EQ(o.resync_rate_kib, 1000u * 1024);  // 1000M = 1000 MiB/s in KiB/s
  EXPECT_EQ(o.protocol, engine::WireProtocol::kC);
  ASSERT_EQ(r.startup.size(), 1u);
  EXPECT_EQ(r.startup[0], (Setting{"become-primary-on", {"both"}}));
}

TEST(ResSeed003, EverythingElseKeepsDefaults) {
  const ResResource r = ParseOne(kSeed003);
  engine::Options expected;
  expected.allow_two_primaries = true;
  expected.after_sb_0pri = engine::AfterSb0::kDiscardZeroChanges;
  expected.after_sb_1pri = engine::AfterSb1::kDiscardSecondary;
  expected.resync_rate_kib = 1024000;
  ResResource want = r;
  want.options = expected;
  EXPECT_TRUE(want == r);
  EXPECT_TRUE(r.mesh_hosts.empty());
  EXPECT_TRUE(r.connections.empty());
  EXPECT_TRUE(r.handlers.empty());
  EXPECT_TRUE(r.ignored.empty());
  EXPECT_TRUE(r.shared_secret.empty());
}

TEST(ResSeed003, RoundTrips) { ExpectRoundTrip(ParseOne(kSeed003)); }

TEST(ResSeed003, CanonicalDump) {
  EXPECT_EQ(RenderResource(ParseOne(kSeed003)), R"(resource r0 {
  net {
    allow-two-primaries yes;
    after-sb-0pri discard-zero-changes;
    after-sb-1pri discard-secondary;
  }
  disk {
    resync-rate 1000M;
  }
  startup {
    become-primary-on both;
  }
  volume 0 {
    device /dev/drbd0;
    disk /dev/sdb;
    meta-disk internal;
  }
  on node1.mondomaine.net {
    address 10.0.128.1:7789;
    volume 0 {
      device /dev/drbd0;
      disk /dev/sdb;
      meta-disk internal;
    }
  }
  on node2.mondomaine.net {
    address 10.0.128.2:7789;
    volume 0 {
      device /dev/drbd0;
      disk /dev/sdb;
      meta-disk internal;
    }
  }
}
)");
}

// ---- three-node mesh ----

TEST(ResMesh, NodeIdsAsGiven) {
  const ResResource r = ParseOne(kMesh);
  ASSERT_EQ(r.hosts.size(), 3u);
  EXPECT_EQ(r.hosts[0].node_id, NodeId(3));
  EXPECT_EQ(r.hosts[1].node_id, NodeId(1));
  EXPECT_EQ(r.hosts[2].node_id, NodeId(2));
  EXPECT_TRUE(r.hosts[0].node_id_given);
  EXPECT_EQ(r.mesh_hosts, (std::vector<std::string>{"alpha", "beta", "gamma"}));
}

TEST(ResMesh, PerHostDisksOverResourceDevice) {
  const ResResource r = ParseOne(kMesh);
  EXPECT_EQ(r.hosts[0].volumes[0].disk, "/dev/vg0/data");
  EXPECT_EQ(r.hosts[1].volumes[0].disk, "/dev/nvme0n1p2");
  EXPECT_EQ(r.hosts[2].volumes[0].disk, "none");
  for (const auto& h : r.hosts) {
    EXPECT_EQ(h.volumes[0].device.minor, 10);
    EXPECT_EQ(h.volumes[0].device.EffectivePath(), "/dev/drbd10");
  }
  EXPECT_TRUE(r.volumes[0].disk.empty());  // not given at resource level
}

TEST(ResMesh, CommonMergedAndOverridden) {
  const ResResource r = ParseOne(kMesh);
  EXPECT_EQ(r.options.quorum, engine::kQuorumMajority);
  EXPECT_EQ(r.options.on_no_quorum, engine::OnNoQuorum::kIoError);
  EXPECT_EQ(r.options.quorum_minimum_redundancy, 2);
  EXPECT_FALSE(r.options.auto_promote);
  EXPECT_EQ(r.options.auto_promote_timeout, 5 * kSec);
}

TEST(ResMesh, ResourceOverridesCommon) {
  const ResResource r = ParseOne("common { options { quorum all; } net { protocol A; } }\n" +
                                 TwoHosts("options { quorum 1; } protocol C;"));
  EXPECT_EQ(r.options.quorum, 1);
  EXPECT_EQ(r.options.protocol, engine::WireProtocol::kC);
}

TEST(ResMesh, CommonAppliesToEveryResource) {
  auto f = ParseResString(
      "common { disk { resync-rate 10M; } }\n"
      "resource a { device minor 0; disk /dev/a; on x { address 1.1.1.1:1; } }\n"
      "resource b { device minor 1; disk /dev/b; on x { address 1.1.1.1:2; } }\n",
      "t.res");
  ASSERT_TRUE(f.ok()) << f.error().message;
  ASSERT_EQ(f->resources.size(), 2u);
  EXPECT_EQ(f->resources[0].options.resync_rate_kib, 10240u);
  EXPECT_EQ(f->resources[1].options.resync_rate_kib, 10240u);
}

TEST(ResMesh, RoundTrips) { ExpectRoundTrip(ParseOne(kMesh)); }

// ---- volumes, devices, meta-disk ----

TEST(ResVolumes, ExternalMetaDisk) {
  const ResResource r = ParseOne(
      TwoHosts("").replace(TwoHosts("").find("meta-disk internal"), 18, "meta-disk /dev/vg/meta"));
  EXPECT_FALSE(r.hosts[0].volumes[0].meta_disk.internal);
  EXPECT_EQ(r.hosts[0].volumes[0].meta_disk.path, "/dev/vg/meta");
  ExpectRoundTrip(r);
}

TEST(ResVolumes, MetaDiskDefaultsToInternal) {
  const ResResource r =
      ParseOne("resource r { device minor 0; disk /dev/x; on a { address 1.2.3.4:5; } }");
  EXPECT_TRUE(r.hosts[0].volumes[0].meta_disk.internal);
  EXPECT_FALSE(r.hosts[0].volumes[0].meta_disk_given);
  ExpectRoundTrip(r);
}

TEST(ResVolumes, ExplicitVolumesMergeResourceAndHostValues) {
  const ResResource r = ParseOne(R"(resource r {
  volume 0 { device /dev/drbd1 minor 1; meta-disk internal; }
  volume 1 { device minor 2; disk /dev/vg/b; }
  on a { address 10.0.0.1:7000; volume 0 { disk /dev/vg/a0; } }
  on b { address 10.0.0.2:7000; volume 0 { disk /dev/sdz; } volume 1 { disk none; meta-disk /m; } }
})");
  ASSERT_EQ(r.volumes.size(), 2u);
  const auto& a = r.hosts[0].volumes;
  const auto& b = r.hosts[1].volumes;
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(a[0].device, (Device{"/dev/drbd1", 1}));
  EXPECT_EQ(a[0].disk, "/dev/vg/a0");
  EXPECT_EQ(a[1].disk, "/dev/vg/b");
  EXPECT_EQ(b[0].disk, "/dev/sdz");
  EXPECT_EQ(b[1].disk, "none");
  EXPECT_EQ(b[1].meta_disk.path, "/m");
  EXPECT_EQ(b[1].device.minor, 2);
  ExpectRoundTrip(r);
}

TEST(ResVolumes, EffectiveMinor) {
  EXPECT_EQ((Device{"/dev/drbd7", -1}).EffectiveMinor(), 7);
  EXPECT_EQ((Device{"/dev/drbd7", 9}).EffectiveMinor(), 9);
  EXPECT_EQ((Device{"", 4}).EffectiveMinor(), 4);
  EXPECT_EQ((Device{"/dev/drbd", -1}).EffectiveMinor(), -1);
  EXPECT_EQ((Device{"/dev/drbd/by-res/r0/0", -1}).EffectiveMinor(), -1);
  EXPECT_EQ((Device{"/dev/mapper/x", -1}).EffectiveMinor(), -1);
}

TEST(ResVolumes, HostLevelValuesOutsideVolumeAreVolumeZero) {
  const ResResource r =
      ParseOne("resource r { on a { address 10.0.0.1:1; device /dev/drbd5; disk /dev/sda; } }");
  ASSERT_EQ(r.hosts[0].volumes.size(), 1u);
  EXPECT_EQ(r.hosts[0].volumes[0].device.path, "/dev/drbd5");
  EXPECT_EQ(r.hosts[0].volumes[0].vnr, VolumeNr(0));
}

// ---- options: every knob and its unit ----

TEST(ResOptions, EveryKnobAndUnit) {
  const ResResource r = ParseOne(TwoHosts(R"(
  options {
    auto-promote yes; auto-promote-timeout 30; quorum 2; quorum-minimum-redundancy all;
    on-no-quorum suspend-io; twopc-timeout 100; twopc-retry-timeout 3;
  }
  net {
    protocol A; always-asbp; rr-conflict retry-connect; max-epoch-size 4000;
    timeout 40; ping-int 5; ping-timeout 7; ko-count 0; connect-int 3; max-buffers 8000;
    after-sb-0pri discard-least-changes; after-sb-1pri consensus; after-sb-2pri violently-as0p;
    cram-hmac-alg sha256; shared-secret "s3cr et"; verify-alg crc32c; csums-alg md5;
  }
  disk {
    al-extents 6001; disk-flushes no; md-flushes no; disk-timeout 600;
    resync-rate 100M; c-plan-ahead 0; c-fill-target 1M; c-delay-target 30;
    c-max-rate 1G; c-min-rate 0;
  })"));
  const engine::Options& o = r.options;
  EXPECT_TRUE(o.auto_promote);
  EXPECT_EQ(o.auto_promote_timeout, 3 * kSec);
  EXPECT_EQ(o.quorum, 2);
  EXPECT_EQ(o.quorum_minimum_redundancy, engine::kQuorumAll);
  EXPECT_EQ(o.on_no_quorum, engine::OnNoQuorum::kSuspendIo);
  EXPECT_EQ(o.twopc_timeout, 10 * kSec);
  EXPECT_EQ(o.twopc_retry_timeout, 300 * kMs);
  EXPECT_EQ(o.protocol, engine::WireProtocol::kA);
  EXPECT_TRUE(o.always_asbp);
  EXPECT_EQ(o.rr_conflict, engine::RrConflict::kRetryConnect);
  EXPECT_EQ(o.max_epoch_size, 4000u);
  EXPECT_EQ(o.timeout, 4 * kSec);        // 0.1 s units
  EXPECT_EQ(o.ping_int, 5 * kSec);       // seconds
  EXPECT_EQ(o.ping_timeout, 700 * kMs);  // 0.1 s units
  EXPECT_EQ(o.ko_count, 0u);
  EXPECT_EQ(o.connect_int, 3 * kSec);  // seconds
  EXPECT_EQ(o.max_buffers, 8000u);
  EXPECT_EQ(o.after_sb_0pri, engine::AfterSb0::kDiscardLeastChanges);
  EXPECT_EQ(o.after_sb_1pri, engine::AfterSb1::kConsensus);
  EXPECT_EQ(o.after_sb_2pri, engine::AfterSb2::kViolentlyAs0p);
  EXPECT_EQ(r.cram_hmac_alg, "sha256");
  EXPECT_EQ(r.shared_secret, "s3cr et");
  EXPECT_EQ(r.verify_alg, "crc32c");
  EXPECT_TRUE(o.verify_alg);
  EXPECT_EQ(r.csums_alg, "md5");
  EXPECT_TRUE(o.csums);
  EXPECT_EQ(o.al_extents, 6001u);
  EXPECT_FALSE(o.disk_flushes);
  EXPECT_FALSE(r.md_flushes);
  EXPECT_EQ(o.disk_timeout, 60 * kSec);
  EXPECT_EQ(o.resync_rate_kib, 102400u);
  EXPECT_EQ(o.c_plan_ahead, 0u);
  EXPECT_EQ(o.c_fill_target_sectors, 2048u);  // 1 MiB in sectors
  EXPECT_EQ(o.c_delay_target, 30u);
  EXPECT_EQ(o.c_max_rate_kib, 1024u * 1024);
  EXPECT_EQ(o.c_min_rate_kib, 0u);
  ExpectRoundTrip(r);
}

TEST(ResOptions, FlagsWithoutValueMeanYes) {
  const ResResource r =
      ParseOne(TwoHosts("net { allow-two-primaries; always-asbp; } options { auto-promote; }"));
  EXPECT_TRUE(r.options.allow_two_primaries);
  EXPECT_TRUE(r.options.always_asbp);
  EXPECT_TRUE(r.options.auto_promote);
  const ResResource n = ParseOne(TwoHosts("net { allow-two-primaries no; }"));
  EXPECT_FALSE(n.options.allow_two_primaries);
}

TEST(ResOptions, OldDrbd8Names) {
  const ResResource r =
      ParseOne(TwoHosts("syncer { rate 40M; al-extents 257; verify-alg sha1; }\n"
                        "disk { no-disk-flushes; no-md-flushes; }"));
  EXPECT_EQ(r.options.resync_rate_kib, 40960u);
  EXPECT_EQ(r.options.al_extents, 257u);
  EXPECT_EQ(r.verify_alg, "sha1");
  EXPECT_FALSE(r.options.disk_flushes);
  EXPECT_FALSE(r.md_flushes);
}

TEST(ResOptions, ProtocolAtResourceLevel) {
  EXPECT_EQ(ParseOne(TwoHosts("protocol A;")).options.protocol, engine::WireProtocol::kA);
}

TEST(ResOptions, AcceptedWithoutEffectAreKept) {
  const ResResource r = ParseOne(
      TwoHosts("disk { on-io-error detach; } net { sndbuf-size 0; } syncer { after r1; }"));
  EXPECT_EQ(r.ignored, (std::vector<Setting>{{"disk.on-io-error", {"detach"}},
                                             {"net.sndbuf-size", {"0"}},
                                             {"syncer.after", {"r1"}}}));
  ExpectRoundTrip(r);
}

TEST(ResOptions, HandlersKeptAsStrings) {
  const ResResource r = ParseOne(TwoHosts(
      "handlers { split-brain \"/usr/lib/drbd/notify-split-brain.sh root\"; fence-peer /bin/f; }"));
  EXPECT_EQ(r.handlers,
            (std::vector<Setting>{{"split-brain", {"/usr/lib/drbd/notify-split-brain.sh root"}},
                                  {"fence-peer", {"/bin/f"}}}));
  ExpectRoundTrip(r);
}

TEST(ResOptions, QuorumValues) {
  EXPECT_EQ(ParseOne(TwoHosts("options { quorum off; }")).options.quorum, engine::kQuorumOff);
  EXPECT_EQ(ParseOne(TwoHosts("options { quorum all; }")).options.quorum, engine::kQuorumAll);
  EXPECT_EQ(ParseOne(TwoHosts("options { quorum 32; }")).options.quorum, 32);
}

// ---- units ----

TEST(ResUnits, ParseKib) {
  EXPECT_EQ(*ParseKib("250"), 250u);
  EXPECT_EQ(*ParseKib("250K"), 250u);
  EXPECT_EQ(*ParseKib("250k"), 250u);
  EXPECT_EQ(*ParseKib("1000M"), 1024000u);
  EXPECT_EQ(*ParseKib("4G"), 4u * 1024 * 1024);
  EXPECT_FALSE(ParseKib("").ok());
  EXPECT_FALSE(ParseKib("M").ok());
  EXPECT_FALSE(ParseKib("1T").ok());
  EXPECT_FALSE(ParseKib("1.5M").ok());
  EXPECT_FALSE(ParseKib("-1").ok());
  EXPECT_FALSE(ParseKib("4096G").ok());  // does not fit 32 bits of KiB
}

TEST(ResUnits, FormatKib) {
  EXPECT_EQ(FormatKib(250), "250");
  EXPECT_EQ(FormatKib(1024000), "1000M");
  EXPECT_EQ(FormatKib(2 * 1024 * 1024), "2G");
  EXPECT_EQ(FormatKib(1536), "1536");
  EXPECT_EQ(FormatKib(0), "0");
}

TEST(ResUnits, FillTargetPlainIsSectors) {
  EXPECT_EQ(ParseOne(TwoHosts("disk { c-fill-target 100; }")).options.c_fill_target_sectors, 100u);
  EXPECT_EQ(ParseOne(TwoHosts("disk { c-fill-target 64K; }")).options.c_fill_target_sectors, 128u);
}

// ---- addresses, connections ----

TEST(ResAddress, Ipv6AndFamily) {
  const ResResource r = ParseOne(
      "resource r { device minor 0; disk /dev/x;\n"
      "  on a { address ipv6 [fd00::1]:7000; } on b { address [fd00::2]:7000; }\n"
      "  on c { address ipv4 10.1.1.1:7000; } }");
  EXPECT_EQ(r.hosts[0].address, (Address{"ipv6", "fd00::1", 7000}));
  EXPECT_EQ(r.hosts[1].address, (Address{"ipv6", "fd00::2", 7000}));
  EXPECT_EQ(r.hosts[2].address, (Address{"ipv4", "10.1.1.1", 7000}));
  EXPECT_EQ(r.hosts[0].address.ToString(), "ipv6 [fd00::1]:7000");
  ExpectRoundTrip(r);
}

TEST(ResConnection, Parsed) {
  const ResResource r = ParseOne(TwoHosts(
      "connection { host a address 10.9.0.1:7100; host b address 10.9.0.2:7000 port 7101;\n"
      "  net { protocol A; } }"));
  ASSERT_EQ(r.connections.size(), 1u);
  const auto& c = r.connections[0];
  EXPECT_EQ(c.hosts[0].name, "a");
  EXPECT_EQ(c.hosts[0].address, (Address{"ipv4", "10.9.0.1", 7100}));
  EXPECT_EQ(c.hosts[1].address.port, 7101);
  EXPECT_EQ(c.net, (std::vector<Setting>{{"protocol", {"A"}}}));
  EXPECT_EQ(r.options.protocol, engine::WireProtocol::kC);  // per-connection net kept aside
  ExpectRoundTrip(r);
}

TEST(ResSyntax, CommentsQuotesGlobalSkipAndTrailingSemicolon) {
  auto f = ParseResString(R"(# leading comment
global { usage-count no; }   # trailing comment
skip { anything { goes here; } }
resource "r0" {  # the name may be quoted
  device "/dev/drbd0"; disk /dev/sdb;
  on a { address 10.0.0.1:7789; };
}
)",
                          "t.res");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->global, (std::vector<Setting>{{"usage-count", {"no"}}}));
  ASSERT_EQ(f->resources.size(), 1u);
  EXPECT_EQ(f->resources[0].name, "r0");
  auto again = ParseResString(RenderResFile(*f), "t.res");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(*again == *f);
}

// ---- host matching ----

TEST(ResFindHost, ExactShortAndCaseInsensitive) {
  const ResResource r = ParseOne(kSeed003);
  EXPECT_EQ((*FindHost(r, "node1.mondomaine.net"))->name, "node1.mondomaine.net");
  EXPECT_EQ((*FindHost(r, "node2"))->name, "node2.mondomaine.net");
  EXPECT_EQ((*FindHost(r, "NODE1.mondomaine.net"))->name, "node1.mondomaine.net");
  EXPECT_EQ((*FindHost(r, "node2.other.domain"))->name, "node2.mondomaine.net");
}

TEST(ResFindHost, ShortOnNameMatchesFullHostname) {
  const ResResource r = ParseOne(kMesh);
  EXPECT_EQ((*FindHost(r, "beta.example.com"))->name, "beta");
}

TEST(ResFindHost, NoMatchListsHosts) {
  const ResResource r = ParseOne(kMesh);
  auto h = FindHost(r, "delta");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.code(), Errc::kNotFound);
  EXPECT_EQ(h.error().message,
            "t.res:6: resource 'data' has no 'on' section for host 'delta' (hosts: alpha, beta, "
            "gamma)");
}

TEST(ResFindHost, AmbiguousShortName) {
  const ResResource r = ParseOne(
      "resource r { device minor 0; disk /dev/x;\n"
      "  on n1.a.net { address 1.1.1.1:1; } on n1.b.net { address 1.1.1.2:1; } }");
  auto h = FindHost(r, "n1");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.code(), Errc::kInvalidArgument);
  EXPECT_EQ((*FindHost(r, "n1.b.net"))->name, "n1.b.net");
}

TEST(ResFindResource, ByName) {
  auto f = ParseResString(kSeed003, "r0.res");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*FindResource(*f, "r0"))->name, "r0");
  EXPECT_EQ(FindResource(*f, "r1").error().message, "no resource 'r1' (resources: r0)");
}

// ---- every error path, with its exact message ----

struct ErrorCase {
  const char* name;
  std::string text;
  std::string message;
};

class ResErrors : public testing::TestWithParam<ErrorCase> {};

TEST_P(ResErrors, ExactMessage) { EXPECT_EQ(ErrorOf(GetParam().text), GetParam().message); }

const ErrorCase kErrorCases[] = {
    // syntax
    {"UnterminatedString", "resource r0 {\n handlers { x \"abc\n", "r0.res:2: unterminated string"},
    {"MissingBrace", "resource r0 {\n  net { }\n",
     "r0.res:3: missing '}' for 'resource' opened at line 1"},
    {"StrayClose", "}\n", "r0.res:1: unexpected '}'"},
    {"MissingSemicolon", "resource r0 {\n  net { protocol C }\n}",
     "r0.res:2: expected ';' or '{' after 'protocol', found '}'"},
    {"KeywordExpected", "resource r0 {\n  ;\n}", "r0.res:2: expected a keyword, found ';'"},
    {"ControlCharacter", std::string("resource r0 {\n\x01\n}"), "r0.res:2: invalid character 0x01"},
    {"TooDeep",
     [] {
       std::string s;
       for (int i = 0; i < 20; ++i) s += "a {";
       return s;
     }(),
     "r0.res:1: sections nested too deeply"},
    {"InvalidCharacterInString", "resource r0 {\n handlers { x \"a\rb\"; }\n}",
     "r0.res:2: invalid character in string"},
    {"BackslashAtEndOfLine", "resource r0 {\n handlers { x \"a\\\n",
     "r0.res:2: unterminated string"},
    // structure
    {"CommonWithArgument", "common x { }", "r0.res:1: expected 'common {'"},
    {"GlobalStatement", "global;", "r0.res:1: expected 'global {'"},
    {"SectionInGlobal", "global {\n dialog { }\n}",
     "r0.res:2: unexpected section 'dialog' in global"},
    {"ResourceStatement", "resource r0;", "r0.res:1: expected 'resource ... {'"},
    {"SkipStatement", "skip;", "r0.res:1: expected 'skip ... {'"},
    {"SkipStatementInResource", TwoHosts("  skip;"), "r0.res:2: expected 'skip {'"},
    {"StackedOnTopOf", TwoHosts("  stacked-on-top-of r1 { }"),
     "r0.res:2: 'stacked-on-top-of' sections are not supported"},
    {"TooManyHosts",
     [] {
       std::string s = "resource r0 {\n device minor 0; disk /dev/a;\n";
       for (int i = 0; i < 33; ++i) {
         s +=
             " on h" + std::to_string(i) + " { address 10.0.0." + std::to_string(i + 1) + ":1; }\n";
       }
       return s + "}";
     }(),
     "r0.res:35: resource 'r0' has more than 32 hosts"},
    {"UnknownTopLevel", "resourse r0 { }", "r0.res:1: unknown top-level keyword 'resourse'"},
    {"Include", "include \"drbd.d/*.res\";",
     "r0.res:1: include is not supported; load the resource files or directory"},
    {"DuplicateCommon", "common { }\ncommon { }",
     "r0.res:2: duplicate common section (first at line 1)"},
    {"NotInCommon", "common {\n  on a { }\n}",
     "r0.res:2: 'on' is not allowed in the common section"},
    {"ResourceWithoutName", "resource {\n}", "r0.res:1: expected 'resource NAME {'"},
    {"BadResourceName", "resource r/0 { }", "r0.res:1: invalid resource name 'r/0'"},
    {"UnknownResourceKeyword", TwoHosts("  floppy yes;"),
     "r0.res:2: unknown keyword 'floppy' in resource section"},
    {"Floating", TwoHosts("  floating 10.0.0.9:7000 { }"),
     "r0.res:2: 'floating' sections are not supported"},
    {"DuplicateResource",
     "resource r0 { device minor 0; disk /dev/a; on a { address 1.1.1.1:1; } }\n"
     "resource r0 { device minor 0; disk /dev/a; on a { address 1.1.1.1:1; } }",
     "r0.res:2: resource 'r0' is already defined at line 1"},
    {"NoHosts", "resource r0 {\n  device minor 0;\n}",
     "r0.res:1: resource 'r0' has no 'on' sections"},
    // options
    {"UnknownNetOption", TwoHosts("  net { allow-too-primaries; }"),
     "r0.res:2: unknown option 'allow-too-primaries' in net section"},
    {"OptionInWrongSection", TwoHosts("  disk { protocol C; }"),
     "r0.res:2: unknown option 'protocol' in disk section (it belongs to another section)"},
    {"UnknownStartupOption", TwoHosts("  startup { wfc-timeuot 3; }"),
     "r0.res:2: unknown option 'wfc-timeuot' in startup section"},
    {"HandlerWithoutCommand", TwoHosts("  handlers { split-brain; }"),
     "r0.res:2: handler 'split-brain' takes one command string"},
    {"BadEnumValue", TwoHosts("  net { after-sb-0pri discard-node-a; }"),
     "r0.res:2: invalid value 'discard-node-a' for 'after-sb-0pri' (expected disconnect, "
     "discard-younger-primary, discard-older-primary, discard-zero-changes, "
     "discard-least-changes)"},
    {"BadBool", TwoHosts("  net { allow-two-primaries maybe; }"),
     "r0.res:2: option 'allow-two-primaries' expects yes or no"},
    {"ProtocolB", TwoHosts("  protocol B;"),
     "r0.res:2: protocol B is not supported by Tandem (use A or C)"},
    {"BadQuorum", TwoHosts("  options { quorum most; }"),
     "r0.res:2: invalid value 'most' for 'quorum' (expected off, majority, all or 1..32)"},
    {"BadOnNoQuorum", TwoHosts("  options { on-no-quorum panic; }"),
     "r0.res:2: invalid value 'panic' for 'on-no-quorum' (expected io-error, suspend-io)"},
    {"BadAfterSb1", TwoHosts("  net { after-sb-1pri discard-local; }"),
     "r0.res:2: invalid value 'discard-local' for 'after-sb-1pri' (expected disconnect, consensus, "
     "discard-secondary, call-pri-lost-after-sb, violently-as0p)"},
    {"BadAfterSb2", TwoHosts("  net { after-sb-2pri consensus; }"),
     "r0.res:2: invalid value 'consensus' for 'after-sb-2pri' (expected disconnect, "
     "violently-as0p, call-pri-lost-after-sb)"},
    {"BadRrConflict", TwoHosts("  net { rr-conflict violently; }"),
     "r0.res:2: invalid value 'violently' for 'rr-conflict' (expected disconnect, retry-connect)"},
    {"BadProtocol", TwoHosts("  net { protocol D; }"),
     "r0.res:2: invalid value 'D' for 'protocol' (expected A or C)"},
    {"EmptyValue", TwoHosts("  net { shared-secret \"\"; }"),
     "r0.res:2: empty value for 'shared-secret'"},
    {"FlagWithValue", TwoHosts("  disk { no-disk-flushes yes; }"),
     "r0.res:2: option 'no-disk-flushes' takes no value"},
    {"NoMdFlushesWithValue", TwoHosts("  disk { no-md-flushes 1; }"),
     "r0.res:2: option 'no-md-flushes' takes no value"},
    {"MissingValue", TwoHosts("  disk { resync-rate; }"),
     "r0.res:2: option 'resync-rate' takes exactly one value"},
    {"TwoValues", TwoHosts("  net { timeout 1 2; }"),
     "r0.res:2: option 'timeout' takes exactly one value"},
    {"TimeoutRange", TwoHosts("  net { timeout 0; }"),
     "r0.res:2: 'timeout' must be 1..600 (unit 0.1 s), got '0'"},
    {"PingIntRange", TwoHosts("  net { ping-int 500; }"),
     "r0.res:2: 'ping-int' must be 1..120 (unit 1 s), got '500'"},
    {"NotANumber", TwoHosts("  disk { al-extents lots; }"),
     "r0.res:2: 'al-extents' must be 7..65536, got 'lots'"},
    {"BadRate", TwoHosts("  disk { resync-rate 10T; }"),
     "r0.res:2: 'resync-rate' must be 1..4G (KiB/s; suffixes K, M, G), got '10T'"},
    {"RateTooHigh", TwoHosts("  disk { c-max-rate 5G; }"),
     "r0.res:2: 'c-max-rate' must be 0..4G (KiB/s; suffixes K, M, G), got '5G'"},
    {"BadFillTarget", TwoHosts("  disk { c-fill-target 1G; }"),
     "r0.res:2: 'c-fill-target' must be 0..1048576 sectors (or a size up to 512M), got '1G'"},
    {"ValidateFails", TwoHosts("  net { protocol A; allow-two-primaries; }"),
     "r0.res:1: resource 'r0': allow-two-primaries requires protocol C"},
    {"OptionIsSection", TwoHosts("  net { timeout { } }"),
     "r0.res:2: unexpected section 'timeout'"},
    {"SectionArgument", TwoHosts("  net x { }"),
     "r0.res:2: unexpected argument 'x' for section 'net'"},
    {"PerVolumeDiskOptions", TwoHosts("  volume 1 {\n disk { al-extents 100; } }"),
     "r0.res:3: per-volume disk options are not supported; put them in the resource's disk "
     "section"},
    // volumes and devices
    {"DuplicateVolume", "resource r0 {\n volume 1 { }\n volume 1 { }\n}",
     "r0.res:3: volume 1 is defined twice in resource 'r0' (first at line 2)"},
    {"BadVolumeNumber", "resource r0 {\n volume x { }\n}",
     "r0.res:2: volume number must be 0..65534, got 'x'"},
    {"UnknownVolumeKeyword", "resource r0 {\n volume 0 { size 1G; }\n}",
     "r0.res:2: unknown keyword 'size' in volume section"},
    {"VolumeZeroTwice",
     "resource r0 {\n disk /dev/a;\n volume 0 { device minor 1; }\n on a { address 1.1.1.1:1; }\n}",
     "r0.res:2: resource 'r0' sets volume 0 values both outside and inside 'volume 0' (line 3)"},
    {"HostVolumeZeroTwice",
     "resource r0 {\n on a { address 1.1.1.1:1;\n disk /dev/a;\n volume 0 { device minor 1; } }\n}",
     "r0.res:3: host 'a' sets volume 0 values both outside and inside 'volume 0' (line 4)"},
    {"BadDevice", "resource r0 {\n device drbd0;\n}",
     "r0.res:2: device must be an absolute path or 'minor N', got 'drbd0'"},
    {"BadMinor", "resource r0 {\n device minor 9999999;\n}",
     "r0.res:2: device minor must be 0..1048575"},
    {"DeviceExtra", "resource r0 {\n device /dev/drbd0 extra;\n}",
     "r0.res:2: expected 'device PATH', 'device minor N' or 'device PATH minor N'"},
    {"BadDisk", "resource r0 {\n disk sdb;\n}",
     "r0.res:2: disk must be an absolute path or 'none'"},
    {"MetaDiskTwoValues", "resource r0 {\n meta-disk /dev/a 0;\n}",
     "r0.res:2: meta-disk takes one value ('internal' or a path)"},
    {"MetaDiskSection", "resource r0 {\n meta-disk { }\n}",
     "r0.res:2: unexpected section 'meta-disk'"},
    {"DeviceSection", "resource r0 {\n device { }\n}", "r0.res:2: unexpected section 'device'"},
    {"VolumeStatement", "resource r0 {\n volume 0;\n}", "r0.res:2: expected 'volume N {'"},
    {"BadMetaDisk", "resource r0 {\n meta-disk flexible;\n}",
     "r0.res:2: meta-disk must be 'internal' or an absolute path, got 'flexible'"},
    {"NoDevice", "resource r0 {\n disk /dev/a;\n on a { address 1.1.1.1:1; }\n}",
     "r0.res:3: host 'a' volume 0 has no device"},
    {"NoDisk", "resource r0 {\n device minor 0;\n on a { address 1.1.1.1:1; }\n}",
     "r0.res:3: host 'a' volume 0 has no disk (write 'disk none;' for diskless)"},
    {"VolumeMissingOnOneHost",
     "resource r0 {\n device minor 0;\n on a { address 1.1.1.1:1; disk /dev/a; volume 1 { device "
     "minor 1; disk /dev/b; } }\n on b { address 1.1.1.2:1; disk /dev/a; }\n}",
     "r0.res:4: host 'b' volume 1 has no device"},
    {"SameDeviceTwice",
     "resource r0 {\n volume 0 { device /dev/drbd3; disk /dev/a; }\n volume 1 { device minor 3; "
     "disk /dev/b; }\n on a { address 1.1.1.1:1; }\n}",
     "r0.res:4: host 'a' volumes 0 and 1 use the same device /dev/drbd3"},
    {"NoVolume", "resource r0 {\n on a { address 1.1.1.1:1; }\n}",
     "r0.res:1: resource 'r0' defines no volume (no device and disk)"},
    // hosts
    {"DuplicateHost", TwoHosts("  on A { address 10.0.0.3:7789; }"),
     "r0.res:4: host 'a' is defined twice (first at line 2)"},
    {"MissingAddress", "resource r0 {\n device minor 0; disk /dev/a;\n on a { }\n}",
     "r0.res:3: host 'a' has no address"},
    {"BadHostName", "resource r0 {\n on \"a b\" { }\n}", "r0.res:2: invalid host name 'a b'"},
    {"UnknownHostKeyword", "resource r0 {\n on a {\n  adress 1.1.1.1:1; }\n}",
     "r0.res:3: unknown keyword 'adress' in 'on' section"},
    {"OnWithoutName", "resource r0 {\n on { }\n}", "r0.res:2: expected 'on HOSTNAME {'"},
    {"NodeIdRange", "resource r0 {\n on a {\n node-id 32; }\n}",
     "r0.res:3: node-id must be 0..31, got '32'"},
    {"SomeNodeIds",
     "resource r0 {\n device minor 0; disk /dev/a;\n on a { node-id 0; address 1.1.1.1:1; }\n"
     " on b { address 1.1.1.2:1; }\n}",
     "r0.res:4: host 'b' has no node-id but host 'a' has one (give every host a node-id, or none)"},
    {"DuplicateNodeId",
     "resource r0 {\n device minor 0; disk /dev/a;\n on a { node-id 4; address 1.1.1.1:1; }\n"
     " on b { node-id 4; address 1.1.1.2:1; }\n}",
     "r0.res:4: node-id 4 of host 'b' is already used by host 'a'"},
    {"DuplicateAddress",
     "resource r0 {\n device minor 0; disk /dev/a;\n on a { address 1.1.1.1:1; }\n"
     " on b { address 1.1.1.1:1; }\n}",
     "r0.res:4: address 1.1.1.1:1 of host 'b' is already used by host 'a'"},
    {"AddressWithoutValue", "resource r0 {\n on a { address; }\n}",
     "r0.res:2: expected 'address [ipv4|ipv6] HOST:PORT'"},
    {"AddressSection", "resource r0 {\n on a { address { } }\n}",
     "r0.res:2: unexpected section 'address'"},
    {"NodeIdSection", "resource r0 {\n on a { node-id { } }\n}",
     "r0.res:2: unexpected section 'node-id'"},
    {"NoPort", "resource r0 {\n on a { address 10.0.0.1; }\n}",
     "r0.res:2: address '10.0.0.1' has no port"},
    {"BadPort", "resource r0 {\n on a { address 10.0.0.1:70000; }\n}",
     "r0.res:2: invalid port in address '10.0.0.1:70000' (1..65535)"},
    {"BadIpv4", "resource r0 {\n on a { address 10.0.0.256:7000; }\n}",
     "r0.res:2: invalid IPv4 address '10.0.0.256:7000'"},
    {"HostnameAsAddress", "resource r0 {\n on a { address node1:7000; }\n}",
     "r0.res:2: invalid IPv4 address 'node1:7000'"},
    {"BadIpv6", "resource r0 {\n on a { address ipv6 fd00::1:7000; }\n}",
     "r0.res:2: invalid IPv6 address 'fd00::1:7000' (expected [ADDR]:PORT)"},
    {"BadFamily", "resource r0 {\n on a { address sdp 10.0.0.1:7000; }\n}",
     "r0.res:2: address family 'sdp' is not supported (ipv4 or ipv6)"},
    // mesh and connections
    {"MeshUnknownHost", TwoHosts("  connection-mesh { hosts a b c; }"),
     "r0.res:2: connection-mesh host 'c' has no 'on' section in resource 'r0'"},
    {"MeshOneHost", TwoHosts("  connection-mesh { hosts a; }"),
     "r0.res:2: connection-mesh needs at least two hosts"},
    {"MeshDuplicateHost", TwoHosts("  connection-mesh { hosts a b a; }"),
     "r0.res:2: host 'a' is listed twice in connection-mesh"},
    {"MeshWithoutHosts", TwoHosts("  connection-mesh { }"),
     "r0.res:2: connection-mesh has no 'hosts' statement"},
    {"DuplicateMesh", TwoHosts("  connection-mesh { hosts a b; }\n connection-mesh { hosts a b; }"),
     "r0.res:3: duplicate connection-mesh section"},
    {"MeshUnknownKeyword", TwoHosts("  connection-mesh { hosts a b; nodes a b; }"),
     "r0.res:2: unknown keyword 'nodes' in connection-mesh section"},
    {"ConnectionHostWithoutName", TwoHosts("  connection { host; host b; }"),
     "r0.res:2: expected 'host NAME [address ...] [port N]'"},
    {"ConnectionBadPort", TwoHosts("  connection { host a port 0; host b; }"),
     "r0.res:2: expected 'host NAME [address ADDR:PORT] [port N]'"},
    {"ConnectionBadAddress", TwoHosts("  connection { host a address 10.0.0.1; host b; }"),
     "r0.res:2: address '10.0.0.1' has no port"},
    {"ConnectionNetArgument", TwoHosts("  connection { host a; host b; net x { } }"),
     "r0.res:2: unexpected argument 'x' for section 'net'"},
    {"ConnectionOneHost", TwoHosts("  connection { host a; }"),
     "r0.res:2: a connection needs exactly two 'host' lines"},
    {"ConnectionSameHost", TwoHosts("  connection { host a; host A; }"),
     "r0.res:2: a connection needs two different hosts"},
    {"ConnectionUnknownHost", TwoHosts("  connection { host a; host z; }"),
     "r0.res:2: connection host 'z' has no 'on' section in resource 'r0'"},
    {"ConnectionTwice",
     TwoHosts("  connection { host a; host b; }\n connection { host b; host a; }"),
     "r0.res:3: connection between 'b' and 'a' is defined twice"},
    {"ConnectionBadNet", TwoHosts("  connection { host a; host b; net { ko-cont 1; } }"),
     "r0.res:2: unknown option 'ko-cont' in net section"},
    {"ConnectionUnknownKeyword", TwoHosts("  connection { path { } }"),
     "r0.res:2: unknown keyword 'path' in connection section"},
    {"ConnectionBadHostLine", TwoHosts("  connection { host a via proxy; host b; }"),
     "r0.res:2: unexpected 'via' in host statement"},
};

INSTANTIATE_TEST_SUITE_P(All, ResErrors, testing::ValuesIn(kErrorCases),
                         [](const testing::TestParamInfo<ErrorCase>& i) { return i.param.name; });

// ---- files and directories ----

class ResFiles : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("adm_test_" + std::to_string(getpid()) + "_" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  static std::string Resource(const std::string& name, int minor) {
    return "resource " + name + " {\n  device minor " + std::to_string(minor) +
           "; disk /dev/x;\n  on a { address 10.0.0.1:" + std::to_string(7000 + minor) + "; }\n}\n";
  }

  std::filesystem::path dir_;
};

TEST_F(ResFiles, ParseFileUsesPathInMessages) {
  const std::string path = Write("bad.res", "resource r0 {\n  net { nope; }\n}\n");
  auto f = ParseResFile(path);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().message, path + ":2: unknown option 'nope' in net section");
}

TEST_F(ResFiles, ParseFileMissing) {
  auto f = ParseResFile((dir_ / "missing.res").string());
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.code(), Errc::kNotFound);
}

TEST_F(ResFiles, ParseFileOnADirectory) {
  auto f = ParseResFile(dir_.string());
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.code(), Errc::kIoError);
}

TEST_F(ResFiles, DirectoryLoadsEveryResFileSorted) {
  Write("b.res", Resource("rb", 2));
  Write("a.res", Resource("ra", 1));
  Write("notes.txt", "not a resource file {");
  Write("global_common.conf", "common { }");
  auto f = ParseResDir(dir_.string());
  ASSERT_TRUE(f.ok()) << f.error().message;
  ASSERT_EQ(f->resources.size(), 2u);
  EXPECT_EQ(f->resources[0].name, "ra");
  EXPECT_EQ(f->resources[1].name, "rb");
  EXPECT_EQ(f->resources[1].where.file, (dir_ / "b.res").string());
}

TEST_F(ResFiles, DirectoryDuplicateAcrossFiles) {
  const std::string a = Write("a.res", Resource("r0", 1));
  const std::string b = Write("b.res", "\n" + Resource("r0", 2));
  auto f = ParseResDir(dir_.string());
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().message, b + ":2: resource 'r0' is already defined at " + a + ":1");
}

TEST_F(ResFiles, DirectoryReportsBadFile) {
  const std::string a = Write("a.res", "resource r0 {");
  auto f = ParseResDir(dir_.string());
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().message, a + ":1: missing '}' for 'resource' opened at line 1");
}

TEST_F(ResFiles, DirectoryMissing) {
  auto f = ParseResDir((dir_ / "nope").string());
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.code(), Errc::kNotFound);
}

}  // namespace
}  // namespace tandem::adm
