// Integration: real NBD clients installed on the machine (libnbd's nbdinfo
// and nbdcopy, qemu-img, qemu-io, fio's nbd engine) against an in-process
// NbdServer serving in-memory exports on a unix socket in a temporary
// directory, and once on 127.0.0.1 with an ephemeral port. A missing tool
// skips its test.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "nbd/testing/test_support.h"

namespace tandem::nbd {
namespace {

using testing::MemoryExport;
using testing::ServerHarness;
using testing::TempDir;

constexpr uint64_t kDiskSize = 64ull << 20;

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs a shell command with a time limit, capturing its output. With `cwd`,
// runs there (fio leaves state files in its working directory).
RunResult RunCommand(const std::string& command, int timeout_s = 120, const std::string& cwd = "") {
  std::string full = "timeout " + std::to_string(timeout_s) + " " + command + " 2>&1";
  if (!cwd.empty()) full = "cd '" + cwd + "' && " + full;
  RunResult r;
  FILE* p = ::popen(full.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool HaveTool(const std::string& tool) {
  return RunCommand("sh -c 'command -v " + tool + "'", 10).exit_code == 0;
}

#define REQUIRE_TOOL(tool) \
  if (!HaveTool(tool)) GTEST_SKIP() << tool << " is not installed"

void WriteRandomFile(const std::string& path, uint64_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> words(size / 8);
  for (auto& w : words) w = rng();
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(words.data()), static_cast<std::streamsize>(size));
}

Bytes ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class ClientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    disk_ = harness_.AddExport("disk", kDiskSize);
    limited_ = harness_.AddExport("limited", 1 << 20);
    limited_->can_trim = false;
    limited_->can_multi_conn = false;
    refused_ = harness_.AddExport("refused", 1 << 20);
    refused_->refuse_error = EPERM;
    refused_->refuse_message = "r0 is Primary on bravo";
    socket_ = dir_.path() + "/nbd.sock";
    harness_.StartServer({{socket_, "disk"}});
  }

  void TearDown() override {
    // Every client is gone: each Open was paired with a Close.
    for (int tries = 0; tries < 1000 && OpenNow() > 0; ++tries) ::usleep(2000);
    EXPECT_EQ(OpenNow(), 0);
  }

  int OpenNow() {
    return harness_.RunOnIo([&] { return disk_->open_now + limited_->open_now; });
  }

  std::string Uri(const std::string& name) {
    return "'nbd+unix:///" + name + "?socket=" + socket_ + "'";
  }
  std::string Path(const std::string& file) { return dir_.path() + "/" + file; }

  TempDir dir_;
  ServerHarness harness_;
  MemoryExport* disk_ = nullptr;
  MemoryExport* limited_ = nullptr;
  MemoryExport* refused_ = nullptr;
  std::string socket_;
};

TEST_F(ClientsTest, NbdinfoReportsSizeAndFlags) {
  REQUIRE_TOOL("nbdinfo");
  RunResult r = RunCommand("nbdinfo --json " + Uri("disk"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "\"protocol\": \"newstyle-fixed\"")) << r.output;
  EXPECT_TRUE(Contains(r.output, "\"structured\": true")) << r.output;
  EXPECT_TRUE(Contains(r.output, "\"export-size\": 67108864")) << r.output;
  EXPECT_TRUE(Contains(r.output, "\"is_read_only\": false")) << r.output;
  EXPECT_TRUE(Contains(r.output, "\"can_flush\": true")) << r.output;
  EXPECT_TRUE(Contains(r.output, "\"can_fua\": true")) << r.output;
  EXPECT_TRUE(Contains(r.output, "\"can_trim\": true")) << r.output;
  EXPECT_TRUE(Contains(r.output, "\"can_zero\": true")) << r.output;
  EXPECT_TRUE(Contains(r.output, "\"can_multi_conn\": true")) << r.output;
}

TEST_F(ClientsTest, NbdinfoSeesWhatTheExportCannotDo) {
  REQUIRE_TOOL("nbdinfo");
  RunResult r = RunCommand("nbdinfo --json " + Uri("limited"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "\"can_trim\": false")) << r.output;
  EXPECT_TRUE(Contains(r.output, "\"can_multi_conn\": false")) << r.output;
  EXPECT_TRUE(Contains(r.output, "\"can_zero\": true")) << r.output;
}

TEST_F(ClientsTest, NbdinfoReadOnlyExport) {
  REQUIRE_TOOL("nbdinfo");
  RunResult r = RunCommand("nbdinfo --json " + Uri("disk:ro"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "\"is_read_only\": true")) << r.output;
  EXPECT_TRUE(Contains(r.output, "\"can_fua\": false")) << r.output;
  EXPECT_TRUE(Contains(r.output, "\"can_trim\": false")) << r.output;
  EXPECT_EQ(harness_.RunOnIo([&] { return disk_->open_count[0]; }), 1);
}

TEST_F(ClientsTest, NbdinfoDefaultExport) {
  REQUIRE_TOOL("nbdinfo");
  RunResult r = RunCommand("nbdinfo --size " + Uri(""));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "67108864")) << r.output;
}

TEST_F(ClientsTest, NbdinfoList) {
  REQUIRE_TOOL("nbdinfo");
  RunResult r = RunCommand("nbdinfo --list " + Uri(""));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "export=\"disk\"")) << r.output;
  EXPECT_TRUE(Contains(r.output, "export=\"limited\"")) << r.output;
  EXPECT_TRUE(Contains(r.output, "export=\"refused\"")) << r.output;
}

// libnbd 1.14 reports the server's error string in its debug output only
// (newer versions add it to the error message), so look there.
TEST_F(ClientsTest, NbdinfoPrintsTheRefusal) {
  REQUIRE_TOOL("nbdinfo");
  RunResult r = RunCommand("env LIBNBD_DEBUG=1 nbdinfo " + Uri("refused"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "r0 is Primary on bravo")) << r.output;
  EXPECT_TRUE(Contains(r.output, "server replied with error to opt_go request")) << r.output;
  EXPECT_EQ(harness_.RunOnIo([&] { return refused_->open_now; }), 0);
}

TEST_F(ClientsTest, QemuImgPrintsTheRefusal) {
  REQUIRE_TOOL("qemu-img");
  RunResult r = RunCommand("qemu-img info " + Uri("refused"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "r0 is Primary on bravo")) << r.output;
}

TEST_F(ClientsTest, NbdinfoUnknownExportFails) {
  REQUIRE_TOOL("nbdinfo");
  RunResult r = RunCommand("env LIBNBD_DEBUG=1 nbdinfo " + Uri("missing"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "no export named 'missing'")) << r.output;
}

TEST_F(ClientsTest, NbdcopyRoundTrip) {
  REQUIRE_TOOL("nbdcopy");
  WriteRandomFile(Path("in.bin"), kDiskSize, 42);
  RunResult in = RunCommand("nbdcopy --flush " + Path("in.bin") + " " + Uri("disk"));
  ASSERT_EQ(in.exit_code, 0) << in.output;
  RunResult out = RunCommand("nbdcopy " + Uri("disk") + " " + Path("out.bin"));
  ASSERT_EQ(out.exit_code, 0) << out.output;
  RunResult cmp = RunCommand("cmp " + Path("in.bin") + " " + Path("out.bin"));
  EXPECT_EQ(cmp.exit_code, 0) << cmp.output;
  Bytes expected = ReadFile(Path("in.bin"));
  EXPECT_TRUE(harness_.RunOnIo([&] { return disk_->bytes() == expected; }));
}

TEST_F(ClientsTest, NbdcopyRoundTripWithOutOfOrderCompletions) {
  REQUIRE_TOOL("nbdcopy");
  harness_.RunOnIo([&] {
    disk_->max_delay_us = 2000;
    return 0;
  });
  WriteRandomFile(Path("in.bin"), 16 << 20, 43);
  RunResult in = RunCommand("nbdcopy --request-size=65536 " + Path("in.bin") + " " + Uri("disk"));
  ASSERT_EQ(in.exit_code, 0) << in.output;
  RunResult out = RunCommand("nbdcopy --request-size=65536 " + Uri("disk") + " " + Path("out.bin"));
  ASSERT_EQ(out.exit_code, 0) << out.output;
  // The export is larger than the file; compare the copied prefix.
  RunResult cmp = RunCommand("cmp -n " + std::to_string(16 << 20) + " " + Path("in.bin") + " " +
                             Path("out.bin"));
  EXPECT_EQ(cmp.exit_code, 0) << cmp.output;
}

TEST_F(ClientsTest, QemuImgConvertInAndOut) {
  REQUIRE_TOOL("qemu-img");
  WriteRandomFile(Path("in.bin"), kDiskSize, 7);
  RunResult in =
      RunCommand("qemu-img convert -n -f raw -O raw " + Path("in.bin") + " " + Uri("disk"));
  ASSERT_EQ(in.exit_code, 0) << in.output;
  RunResult out =
      RunCommand("qemu-img convert -f raw -O raw " + Uri("disk") + " " + Path("out.bin"));
  ASSERT_EQ(out.exit_code, 0) << out.output;
  RunResult cmp = RunCommand("cmp " + Path("in.bin") + " " + Path("out.bin"));
  EXPECT_EQ(cmp.exit_code, 0) << cmp.output;
}

TEST_F(ClientsTest, QemuIoWritesAndReads) {
  REQUIRE_TOOL("qemu-io");
  RunResult r = RunCommand(
      "qemu-io -f raw -c 'write -P 0xab 0 1M' -c 'write -P 0xcd -f 1M 64k' "
      "-c 'write -z 2M 512k' -c 'flush' -c 'read -P 0xab 0 1M' "
      "-c 'read -P 0xcd 1M 64k' -c 'read -P 0 2M 512k' -c 'write -P 0x11 100 1000' "
      "-c 'read -P 0x11 100 1000' -c 'discard 4M 1M' " +
      Uri("disk"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(Contains(r.output, "failed")) << r.output;
  EXPECT_FALSE(Contains(r.output, "Pattern verification")) << r.output;
  EXPECT_EQ(harness_.RunOnIo([&] { return disk_->bytes()[0]; }), 0xab);
  EXPECT_EQ(harness_.RunOnIo([&] { return disk_->bytes()[100]; }), 0x11);
  EXPECT_EQ(harness_.RunOnIo([&] { return disk_->bytes()[(1 << 20) + 5]; }), 0xcd);
}

TEST_F(ClientsTest, QemuIoReadsAReadOnlyExport) {
  REQUIRE_TOOL("qemu-io");
  RunResult r = RunCommand("qemu-io -f raw -r -c 'read 0 4k' " + Uri("disk:ro"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(ClientsTest, FioVerifiesRandomWrites) {
  REQUIRE_TOOL("fio");
  RunResult r = RunCommand("fio --name=tandem-nbd --ioengine=nbd --uri=" + Uri("disk") +
                               " --rw=randwrite --bs=4k --size=32M --iodepth=16 --verify=crc32c"
                               " --do_verify=1 --verify_fatal=1 --verify_state_save=0 --runtime=10"
                               " --output-format=normal",
                           120, dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "err= 0")) << r.output;
  EXPECT_FALSE(Contains(r.output, "verify: bad")) << r.output;
}

TEST_F(ClientsTest, FioVerifiesWithOutOfOrderCompletions) {
  REQUIRE_TOOL("fio");
  harness_.RunOnIo([&] {
    disk_->max_delay_us = 1000;
    return 0;
  });
  RunResult r = RunCommand("fio --name=tandem-nbd-ooo --ioengine=nbd --uri=" + Uri("disk") +
                               " --rw=randwrite --bs=4k --size=8M --iodepth=32 --verify=crc32c"
                               " --do_verify=1 --verify_fatal=1 --verify_state_save=0"
                               " --output-format=normal",
                           120, dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "err= 0")) << r.output;
}

TEST_F(ClientsTest, FioMixedTimedRun) {
  REQUIRE_TOOL("fio");
  RunResult r =
      RunCommand("fio --name=tandem-nbd-mix --ioengine=nbd --uri=" + Uri("disk") +
                     " --rw=randrw --bs=4k --size=32M --iodepth=32 --time_based --runtime=3"
                     " --verify_state_save=0 --output-format=normal",
                 120, dir_.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "err= 0")) << r.output;
}

TEST(ClientsTcp, NbdinfoAndNbdcopyOverLoopback) {
  REQUIRE_TOOL("nbdinfo");
  TempDir dir;
  ServerHarness harness;
  MemoryExport* disk = harness.AddExport("disk", 8 << 20);
  auto bound = harness.StartServer({{"127.0.0.1:0", ""}});
  ASSERT_TRUE(bound[0].starts_with("127.0.0.1:"));
  std::string uri = "nbd://" + bound[0] + "/disk";
  RunResult info = RunCommand("nbdinfo --size " + uri);
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_TRUE(Contains(info.output, std::to_string(8 << 20))) << info.output;
  if (HaveTool("nbdcopy")) {
    WriteRandomFile(dir.path() + "/in.bin", 8 << 20, 3);
    RunResult in = RunCommand("nbdcopy " + dir.path() + "/in.bin " + uri);
    ASSERT_EQ(in.exit_code, 0) << in.output;
    RunResult out = RunCommand("nbdcopy " + uri + " " + dir.path() + "/out.bin");
    ASSERT_EQ(out.exit_code, 0) << out.output;
    EXPECT_EQ(RunCommand("cmp " + dir.path() + "/in.bin " + dir.path() + "/out.bin").exit_code, 0);
  }
  harness.StopServer();
  EXPECT_EQ(harness.RunOnIo([&] { return disk->open_now; }), 0);
}

}  // namespace
}  // namespace tandem::nbd
