// Storage providers and the .res rendering of tandem-satellite
// (docs/satellite-protocol.md, "What the satellite does with it").
#include "satellite/apply.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "adm/res_config.h"
#include "adm/tandemadm.h"
#include "common/drbd_options.h"
#include "engine/metadata.h"
#include "satellite/storage.h"

namespace tandem::satellite {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string t = (fs::temp_directory_path() / "tandem-satellite-XXXXXX").string();
    path_ = mkdtemp(t.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

satproto::ResourceDesired ThreeNodes() {
  satproto::ResourceDesired r;
  r.name = "vol1";
  r.port = 7001;
  r.secret = "s3cret";
  r.peer_slots = 7;
  r.node_id = 0;
  r.nodes = {{"alpha", 0, "127.0.0.11", false, false},
             {"bravo", 1, "127.0.0.12", false, false},
             {"charlie", 2, "127.0.0.13", true, true}};
  r.volumes = {{0, 1024, 1000, "pool1"}};
  r.options["resource"]["quorum"] = "majority";
  r.options["resource"]["on-no-quorum"] = "io-error";
  r.options["net"]["protocol"] = "C";
  return r;
}

PoolMap Pools(const std::string& dir, const std::string& provider = "FILE_THIN") {
  satproto::PoolDesired p;
  p.name = "pool1";
  p.provider = provider;
  p.props["StorDriver/FileDir"] = dir;
  return PoolMap{{"pool1", p}};
}

TEST(StorageTest, ProvidersByName) {
  EXPECT_EQ(*ParseProvider("FILE"), Provider::kFile);
  EXPECT_EQ(*ParseProvider("FILE_THIN"), Provider::kFileThin);
  EXPECT_EQ(*ParseProvider("DISKLESS"), Provider::kDiskless);
  Result<Provider> lvm = ParseProvider("LVM");
  ASSERT_FALSE(lvm.ok());
  EXPECT_NE(lvm.error().message.find("LVM"), std::string::npos);
}

TEST(StorageTest, VolumeFileNames) {
  EXPECT_EQ(VolumeFile("/srv/p", "vol1", 0), "/srv/p/vol1_00000.img");
  EXPECT_EQ(VolumeFile("/srv/p", "vol1", 12), "/srv/p/vol1_00012.img");
}

TEST(StorageTest, GrossBytesLeaveTheNetSizeUsable) {
  for (uint64_t net : {uint64_t{1} << 20, uint64_t{100} << 20, uint64_t{1} << 30}) {
    for (uint32_t peers : {1u, 7u, 31u}) {
      Result<uint64_t> gross = GrossBytes(net, peers);
      ASSERT_TRUE(gross.ok()) << gross.error().message;
      EXPECT_GT(*gross, net);
      Result<engine::MdLayout> l =
          engine::ComputeLayout(*gross, peers, engine::kAlDefaultRingSlots, true);
      ASSERT_TRUE(l.ok());
      EXPECT_GE(l->usable_bytes, net);
      // Not wasteful: the metadata of a 1 GiB volume with 31 peers is ~1 MiB.
      EXPECT_LT(*gross - net, (uint64_t{4} << 20) + net / 64);
    }
  }
}

TEST(StorageTest, ThinFilesAreSparsePreallocatedAreNot) {
  TempDir d;
  std::string thin = d.path() + "/thin.img", thick = d.path() + "/thick.img";
  Result<EnsureResult> t = EnsureVolumeFile(Provider::kFileThin, d.path(), thin, 64 << 20);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(t->created);
  EXPECT_EQ(fs::file_size(thin), uint64_t{64} << 20);
  EXPECT_LT(AllocatedKib(thin), 1024);

  Result<EnsureResult> f = EnsureVolumeFile(Provider::kFile, d.path(), thick, 8 << 20);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_GE(AllocatedKib(thick), 8 * 1024);

  // Idempotent; never shrinks.
  Result<EnsureResult> again = EnsureVolumeFile(Provider::kFileThin, d.path(), thin, 32 << 20);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(fs::file_size(thin), uint64_t{64} << 20);

  EXPECT_TRUE(DeleteVolumeFile(thin).ok());
  EXPECT_FALSE(fs::exists(thin));
  EXPECT_TRUE(DeleteVolumeFile(thin).ok());  // already gone is fine
}

TEST(StorageTest, MissingPoolDirectoryIsAnErrorThatCreatesNothing) {
  TempDir d;
  std::string dir = d.path() + "/nope";
  Result<EnsureResult> r = EnsureVolumeFile(Provider::kFileThin, dir, dir + "/v.img", 1 << 20);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(dir), std::string::npos);
  EXPECT_FALSE(fs::exists(dir));
}

TEST(StorageTest, PoolCapacityFromTheFileSystem) {
  TempDir d;
  satproto::PoolState s = PoolStateOf(Pools(d.path()).at("pool1"));
  EXPECT_TRUE(s.error.empty()) << s.error;
  ASSERT_TRUE(s.total_kib && s.free_kib);
  EXPECT_GT(*s.total_kib, 0);
  EXPECT_LE(*s.free_kib, *s.total_kib);

  satproto::PoolState missing = PoolStateOf(Pools(d.path() + "/nope").at("pool1"));
  EXPECT_FALSE(missing.error.empty());

  satproto::PoolDesired diskless{"dl", "DISKLESS", {}};
  satproto::PoolState dl = PoolStateOf(diskless);
  EXPECT_TRUE(dl.error.empty());
  EXPECT_FALSE(dl.total_kib.has_value());
}

TEST(RenderTest, TheResFileParsesIntoTheSpecOfEachNode) {
  PoolMap pools = Pools("/srv/pool1");
  satproto::ResourceDesired r = ThreeNodes();
  Result<std::string> text = RenderResText(r, pools, "alpha");
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(text->rfind(kManagedMarker, 0), 0u);

  Result<adm::ResFile> f = adm::ParseResString(*text, "vol1.res");
  ASSERT_TRUE(f.ok()) << f.error().message << "\n" << *text;
  ASSERT_EQ(f->resources.size(), 1u);
  Result<tandemd::ResourceSpec> alpha = adm::SpecFor(f->resources[0], "alpha");
  ASSERT_TRUE(alpha.ok()) << alpha.error().message;
  EXPECT_EQ(alpha->name, "vol1");
  EXPECT_EQ(alpha->node_id, 0);
  EXPECT_EQ(alpha->shared_secret, "s3cret");
  ASSERT_EQ(alpha->nodes.size(), 3u);
  ASSERT_EQ(alpha->volumes.size(), 1u);
  EXPECT_EQ(alpha->volumes[0].disk, "/srv/pool1/vol1_00000.img");
  EXPECT_EQ(alpha->options.quorum, engine::kQuorumMajority);
  // Bravo is diskful, charlie is the diskless tiebreaker.
  EXPECT_EQ(alpha->DiskfulPeers(), std::vector<uint8_t>{1});
  const tandemd::NodeSpec* c = alpha->FindNodeByName("charlie");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->address, "127.0.0.13:7001");

  // The tiebreaker's own file: no disk at all.
  satproto::ResourceDesired tb = r;
  tb.node_id = 2;
  tb.diskless = tb.tiebreaker = true;
  Result<std::string> ctext = RenderResText(tb, PoolMap{}, "charlie");
  ASSERT_TRUE(ctext.ok()) << ctext.error().message;
  Result<adm::ResFile> cf = adm::ParseResString(*ctext, "vol1.res");
  ASSERT_TRUE(cf.ok()) << cf.error().message;
  Result<tandemd::ResourceSpec> charlie = adm::SpecFor(cf->resources[0], "charlie");
  ASSERT_TRUE(charlie.ok()) << charlie.error().message;
  EXPECT_TRUE(charlie->diskless());
}

TEST(RenderTest, RefusesWhatItCannotRender) {
  PoolMap pools = Pools("/srv/pool1");
  satproto::ResourceDesired r = ThreeNodes();
  EXPECT_FALSE(RenderResText(r, pools, "delta").ok());      // not a node of it
  EXPECT_FALSE(RenderResText(r, PoolMap{}, "alpha").ok());  // pool unknown here
  r.options["bogus"]["x"] = "1";
  Result<std::string> bad = RenderResText(r, pools, "alpha");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("bogus"), std::string::npos);
}

TEST(RenderTest, AnUnknownOptionIsCaughtByTheParser) {
  satproto::ResourceDesired r = ThreeNodes();
  r.options["net"]["no-such-option"] = "1";
  Result<std::string> text = RenderResText(r, Pools("/srv/p"), "alpha");
  ASSERT_TRUE(text.ok());
  EXPECT_FALSE(adm::ParseResString(*text, "vol1.res").ok());
}

// The controller checks DrbdOptions values with common/drbd_options.h; the
// .res parser checks them again on the satellite. A value the controller
// accepts must be one the satellite can apply.
TEST(RenderTest, TheOptionTableAgreesWithTheParser) {
  auto parses = [](const drbd::OptionSpec& o, const std::string& value) {
    static const std::map<std::string, std::string> kSection = {
        {"Resource", "resource"}, {"Net", "net"}, {"Disk", "disk"}, {"PeerDevice", "peer-device"}};
    satproto::ResourceDesired r = ThreeNodes();
    r.options[kSection.at(o.section)][o.name] = value;
    Result<std::string> text = RenderResText(r, Pools("/srv/p"), "alpha");
    return text.ok() && adm::ParseResString(*text, "vol1.res").ok();
  };
  int checked = 0;
  for (const drbd::OptionSpec& o : drbd::AllOptions()) {
    std::vector<std::string> good, bad;
    switch (o.kind) {
      case drbd::ValueKind::kFlag:
        good = {"yes", "no"};
        bad = {"maybe"};
        break;
      case drbd::ValueKind::kEnum:
        for (const char* v : o.values) good.push_back(v);
        bad = {"no-such-value"};
        break;
      case drbd::ValueKind::kInteger:
        good = {std::to_string(o.min), std::to_string(o.max)};
        bad = {std::to_string(o.max + 1), "x1"};
        if (o.min > 0) bad.push_back(std::to_string(o.min - 1));
        break;
      case drbd::ValueKind::kRate:
      case drbd::ValueKind::kFillTarget:
        good = {"100", "10M"};
        bad = {"fast"};
        break;
      case drbd::ValueKind::kQuorum:
        good = {"off", "majority", "all", "2"};
        bad = {"33", "most"};
        break;
      case drbd::ValueKind::kAlgorithm:
        good = {"crc32c"};
        bad = {"a b"};
        break;
    }
    for (const std::string& v : good) {
      ASSERT_TRUE(drbd::ValidateValue(o, v).ok()) << o.name << " " << v;
      EXPECT_TRUE(parses(o, v)) << o.name << " " << v << ": the controller accepts it, the "
                                << "satellite's parser does not";
      ++checked;
    }
    // The parser is more lenient in places (on-io-error is accepted and
    // ignored, algorithm names are any string): what it refuses, the
    // controller must refuse too.
    for (const std::string& v : bad) {
      if (parses(o, v)) continue;
      EXPECT_FALSE(drbd::ValidateValue(o, v).ok())
          << o.name << " " << v << ": the controller accepts what the satellite's parser refuses";
      ++checked;
    }
  }
  EXPECT_GT(checked, 100);
}

TEST(ApplierTest, NeverTouchesTheAdministratorsFiles) {
  TempDir root;
  Applier a(root.path(), "alpha");
  fs::create_directories(fs::path(a.ResPath("vol1")).parent_path());
  { std::ofstream(a.ResPath("vol1")) << "resource vol1 { }\n"; }
  { std::ofstream(a.ResPath("mine")) << kManagedMarker << "\nresource mine { }\n"; }
  EXPECT_EQ(a.Managed(), std::vector<std::string>{"mine"});

  Status s = a.Apply(ThreeNodes(), Pools(root.path()));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("not written by tandem-satellite"), std::string::npos);
  Status rm = a.Remove("vol1");
  ASSERT_FALSE(rm.ok());
  EXPECT_TRUE(fs::exists(a.ResPath("vol1")));
}

TEST(ApplierTest, BadInputChangesNothing) {
  TempDir root;
  fs::create_directories(root.path() + "/pool");
  Applier a(root.path(), "alpha");
  satproto::ResourceDesired r = ThreeNodes();
  r.options["net"]["no-such-option"] = "1";
  ASSERT_FALSE(a.Apply(r, Pools(root.path() + "/pool")).ok());
  EXPECT_FALSE(fs::exists(a.ResPath("vol1")));
  EXPECT_TRUE(fs::is_empty(root.path() + "/pool"));

  satproto::ResourceDesired bad = ThreeNodes();
  bad.name = "../etc";
  EXPECT_FALSE(a.Apply(bad, Pools(root.path() + "/pool")).ok());
}

TEST(ApplierTest, AGrownVolumeIsLeftToTandemd) {
  // Growing the file behind tandemd's back would strand the internal
  // metadata at the old end: the satellite asks tandemd to grow it (here
  // there is no tandemd, so the apply fails) and never extends it itself.
  TempDir root;
  fs::create_directories(root.path() + "/pool");
  Applier a(root.path(), "alpha");
  satproto::ResourceDesired r = ThreeNodes();
  (void)a.Apply(r, Pools(root.path() + "/pool"));  // no tandemd here: adjust fails
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(root.path() + "/pool")) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  uint64_t before = fs::file_size(files[0]);

  r.volumes[0].size_kib *= 2;
  Status s = a.Apply(r, Pools(root.path() + "/pool"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(fs::file_size(files[0]), before);
}

}  // namespace
}  // namespace tandem::satellite
