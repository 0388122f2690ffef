// tandem-controller as a real process on 127.0.0.1 with a temporary root,
// driven by the tandem CLI and by raw HTTP. Each test starts its own
// controller (setsid, pid file) and stops only that pid.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/http_client.h"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using ::testing::HasSubstr;

struct CommandResult {
  int exit_code = -1;
  std::string out;
};

// Runs argv with stdout+stderr captured; no shell involved.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env = {}) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    close(pipefd[0]);
    close(pipefd[1]);
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(pipefd[1]);
  CommandResult r;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class ControllerProcess {
 public:
  explicit ControllerProcess(fs::path root) : root_(std::move(root)) {}
  ~ControllerProcess() { Stop(); }

  bool Start() {
    fs::create_directories(root_);
    fs::remove(root_ / "port");
    pid_t pid = fork();
    if (pid == 0) {
      setsid();
      int log = open((root_ / "controller.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(log, 1);
      dup2(log, 2);
      std::string root = root_.string();
      std::string pid_file = (root_ / "pid").string();
      std::string port_file = (root_ / "port").string();
      execl(TANDEM_CONTROLLER_BIN, TANDEM_CONTROLLER_BIN, "--root", root.c_str(), "--listen",
            "127.0.0.1:0", "--pid-file", pid_file.c_str(), "--port-file", port_file.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    pid_ = pid;
    for (int i = 0; i < 200; ++i) {  // up to 10 s
      std::ifstream in(root_ / "port");
      int port = 0;
      if (in >> port && port > 0) {
        port_ = static_cast<uint16_t>(port);
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }
  const fs::path& root() const { return root_; }

 private:
  fs::path root_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

class ControllerIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() /
            ("tandem-ctl-it-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(base_);
    controller_ = std::make_unique<ControllerProcess>(base_ / "root");
    ASSERT_TRUE(controller_->Start()) << "controller did not start";
  }
  void TearDown() override {
    controller_.reset();
    fs::remove_all(base_);
  }

  CommandResult Tandem(std::vector<std::string> args) {
    args.insert(args.begin(), {TANDEM_CLI_BIN, "--controllers", controller_->address()});
    return RunCommand(args);
  }
  void TandemOk(const std::vector<std::string>& args) {
    auto r = Tandem(args);
    ASSERT_EQ(r.exit_code, 0) << "tandem";
  }
  tandem::cli::HttpResult Http(const std::string& method, const std::string& target,
                               const std::string& body = "") {
    auto r = tandem::cli::HttpCall({"127.0.0.1", controller_->port()}, method, target, body, 10);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : tandem::cli::HttpResult{};
  }
  std::string Get(const std::string& target) { return Http("GET", target).body; }

  // Three satellites with a 100 GiB thin pool 'pool' each.
  void ThreeNodes() {
    for (const char* n : {"alpha", "bravo", "charlie"}) {
      TandemOk({"node", "create", n, "127.0.0.1"});
      TandemOk({"sp", "c", "filethin", n, "pool", "/srv/pool"});
      TandemOk({"sp", "sp", n, "pool", "Tandem/Capacity/TotalKib", "104857600"});
    }
  }
  std::vector<std::string> Placement(const std::string& rd) {
    std::vector<std::string> out;
    json::value v = json::parse(Get("/v1/view/resources?resources=" + rd));
    for (const auto& r : v.as_array()) {
      std::string flags = r.as_object().contains("flags") ? json::serialize(r.at("flags")) : "";
      out.push_back(std::string(r.at("node_name").as_string()) +
                    (flags.find("TIE_BREAKER") != std::string::npos ? "(tb)" : ""));
    }
    return out;
  }
  std::string State() {
    return Get("/v1/nodes") + Get("/v1/view/storage-pools") + Get("/v1/resource-groups") +
           Get("/v1/resource-definitions?with_volume_definitions=true") +
           Get("/v1/view/resources") + Get("/v1/controller/properties");
  }

  fs::path base_;
  std::unique_ptr<ControllerProcess> controller_;
};

TEST_F(ControllerIntegrationTest, CliCrudRoundTrip) {
  ThreeNodes();
  auto nodes = Tandem({"n", "l"});
  EXPECT_EQ(nodes.exit_code, 0);
  EXPECT_THAT(nodes.out, HasSubstr("charlie"));
  TandemOk({"rg", "c", "ssd_group", "--place-count", "2", "--storage-pool", "pool"});
  TandemOk({"vg", "c", "ssd_group"});
  TandemOk({"rg", "spawn", "ssd_group", "res1", "20G"});
  EXPECT_THAT(Placement("res1"), ::testing::ElementsAre("alpha", "bravo", "charlie(tb)"));
  auto vds = Tandem({"vd", "l"});
  EXPECT_THAT(vds.out, HasSubstr("20 GiB"));
  TandemOk({"vd", "set-size", "res1", "0", "30G"});
  EXPECT_THAT(Tandem({"vd", "l"}).out, HasSubstr("30 GiB"));
  TandemOk({"r", "c", "res1", "--auto-place", "+1"});
  EXPECT_THAT(Placement("res1"), ::testing::ElementsAre("alpha", "bravo", "charlie"));
  json::value rd = json::parse(Get("/v1/resource-definitions/res1"));
  EXPECT_EQ(rd.at("props").at("DrbdOptions/Resource/quorum"), "majority");
  TandemOk({"r", "d", "charlie", "res1"});
  TandemOk({"rd", "d", "res1"});
  EXPECT_EQ(Http("GET", "/v1/resource-definitions/res1").status, 404);
  TandemOk({"rg", "d", "ssd_group"});
  TandemOk({"n", "d", "charlie"});
  EXPECT_THAT(Tandem({"n", "l"}).out, ::testing::Not(HasSubstr("charlie")));
}

TEST_F(ControllerIntegrationTest, BlogScriptWorksWithTandem) {
  // Seed 000's Python script, with linstor replaced by tandem.
  for (const char* n : {"acemagician", "elitedesk", "thinkpad"}) {
    TandemOk({"node", "create", n, "127.0.0.1"});
    TandemOk({"storage-pool", "create", "file", n, "linstor_storage", "/var/lib/linstor_storage"});
  }
  struct Vm {
    int id;
    int size;
    std::vector<std::string> nodes;
  };
  std::vector<Vm> vms = {{1000, 100, {"acemagician", "elitedesk"}},
                         {1001, 100, {"elitedesk", "thinkpad"}},
                         {1002, 20, {"thinkpad", "acemagician"}}};
  for (const auto& vm : vms) {
    std::string res = "vm-" + std::to_string(vm.id) + "-disk-0";
    TandemOk({"resource-definition", "create", res});
    TandemOk({"volume-definition", "create", res, std::to_string(vm.size) + "G"});
    for (const auto& n : vm.nodes)
      TandemOk({"resource", "create", n, res, "--storage-pool", "linstor_storage"});
  }
  auto list = Tandem({"r", "l"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_THAT(list.out, HasSubstr("vm-1002-disk-0"));
  EXPECT_THAT(Placement("vm-1001-disk-0"),
              ::testing::ElementsAre("acemagician(tb)", "elitedesk", "thinkpad"));
}

TEST_F(ControllerIntegrationTest, RefusedRequestsChangeNothing) {
  ThreeNodes();
  TandemOk({"rg", "c", "big", "--place-count", "4"});
  std::string before = State();
  auto spawn = Tandem({"rg", "spawn", "big", "res1", "1G"});
  EXPECT_EQ(spawn.exit_code, 10);
  EXPECT_THAT(spawn.out, HasSubstr("Not enough available nodes: need 4, 3"));
  auto bad_pool = Tandem({"rg", "spawn", "DfltRscGrp", "res2", "1T", "--definition-only"});
  EXPECT_EQ(bad_pool.exit_code, 0);
  TandemOk({"rd", "d", "res2"});
  EXPECT_EQ(State(), before);
  auto parse = Http("POST", "/v1/nodes", "{\"name\": ");
  EXPECT_EQ(parse.status, 400);
  auto dup =
      Http("POST", "/v1/nodes", R"({"name":"alpha","net_interfaces":[{"address":"127.0.0.1"}]})");
  EXPECT_EQ(dup.status, 500);
  auto missing =
      Http("POST", "/v1/resource-definitions/vm-1-disk-0/resources/alpha/make-available", "{}");
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.body, HasSubstr("-4611686018407202515"));
  EXPECT_EQ(State(), before);
  EXPECT_EQ(Tandem({"vd", "c", "nothing", "12Q"}).exit_code, 1);
  EXPECT_EQ(Tandem({"node", "frobnicate"}).exit_code, 2);
}

TEST_F(ControllerIntegrationTest, RestartKeepsEveryObject) {
  ThreeNodes();
  TandemOk({"c", "sp", "TcpPortAutoRange", "7100-7200"});
  TandemOk({"rg", "c", "grp", "--place-count", "3", "--replicas-on-different", "zone"});
  for (const char* n : {"alpha", "bravo", "charlie"}) TandemOk({"n", "sp", "--aux", n, "zone", n});
  TandemOk({"rg", "spawn", "grp", "res1", "2G"});
  std::string before = State();
  controller_->Stop();
  ASSERT_TRUE(controller_->Start());
  EXPECT_EQ(State(), before);
  EXPECT_THAT(Get("/v1/resource-definitions/res1"), HasSubstr("\"port\":7100"));
}

TEST_F(ControllerIntegrationTest, ExportImportRoundTrip) {
  ThreeNodes();
  TandemOk({"rg", "c", "grp", "--place-count", "2"});
  TandemOk({"rg", "spawn", "grp", "res1", "2G"});
  std::string before = State();
  controller_->Stop();
  fs::path file = base_ / "export.json";
  auto exp = RunCommand(
      {TANDEM_CONTROLLER_BIN, "--root", controller_->root().string(), "export-db", file.string()});
  ASSERT_EQ(exp.exit_code, 0) << exp.out;
  fs::path other = base_ / "other-root";
  auto imp =
      RunCommand({TANDEM_CONTROLLER_BIN, "--root", other.string(), "import-db", file.string()});
  ASSERT_EQ(imp.exit_code, 0) << imp.out;
  controller_ = std::make_unique<ControllerProcess>(other);
  ASSERT_TRUE(controller_->Start());
  EXPECT_EQ(State(), before);
  auto bad = RunCommand(
      {TANDEM_CONTROLLER_BIN, "--root", other.string(), "import-db", (base_ / "missing").string()});
  EXPECT_NE(bad.exit_code, 0);
}

TEST_F(ControllerIntegrationTest, MachineReadableAndEnvironment) {
  ThreeNodes();
  auto r = RunCommand({TANDEM_CLI_BIN, "-m", "n", "l"},
                      {"TANDEM_CONTROLLERS=" + controller_->address()});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  json::value v = json::parse(r.out);
  EXPECT_EQ(v.as_array()[0].as_array().size(), 3u);
  auto ls = RunCommand({TANDEM_CLI_BIN, "c", "v"}, {"LS_CONTROLLERS=" + controller_->address()});
  EXPECT_EQ(ls.exit_code, 0);
  EXPECT_THAT(ls.out, HasSubstr("tandem controller"));
  auto down = RunCommand({TANDEM_CLI_BIN, "--controllers", "127.0.0.1:1", "n", "l"});
  EXPECT_EQ(down.exit_code, 20);
  EXPECT_EQ(Http("GET", "/health").status, 200);
  EXPECT_THAT(Get("/metrics"), HasSubstr("tandem_nodes 3"));
}

TEST_F(ControllerIntegrationTest, GroupAndDefinitionModify) {
  ThreeNodes();
  TandemOk({"rg", "c", "grp", "--place-count", "2"});
  TandemOk({"rg", "modify", "grp", "--place-count", "3", "--storage-pool", "pool", "--description",
            "three copies"});
  json::value g = json::parse(Get("/v1/resource-groups/grp"));
  EXPECT_EQ(g.at("select_filter").at("place_count"), 3);
  EXPECT_THAT(json::serialize(g.at("select_filter").at("storage_pool_list")), HasSubstr("pool"));
  EXPECT_EQ(g.at("description"), "three copies");
  TandemOk({"rg", "m", "grp", "--diskless-on-remaining", "true"});
  EXPECT_EQ(
      json::parse(Get("/v1/resource-groups/grp")).at("select_filter").at("diskless_on_remaining"),
      true);
  TandemOk({"rg", "m", "grp", "--diskless-on-remaining", "false"});
  EXPECT_EQ(
      json::parse(Get("/v1/resource-groups/grp")).at("select_filter").at("diskless_on_remaining"),
      false);
  EXPECT_EQ(Tandem({"rg", "m", "grp", "--diskless-on-remaining", "maybe"}).exit_code, 2);
  TandemOk({"rg", "m", "grp", "--replicas-on-different", "zone"});
  g = json::parse(Get("/v1/resource-groups/grp"));
  EXPECT_EQ(g.at("select_filter").at("place_count"), 3);  // kept
  EXPECT_THAT(json::serialize(g.at("select_filter")), HasSubstr("Aux/zone"));
  TandemOk({"rd", "c", "res1"});
  TandemOk({"rd", "modify", "res1", "--resource-group", "grp"});
  EXPECT_EQ(json::parse(Get("/v1/resource-definitions/res1")).at("resource_group_name"), "grp");
  auto put = Http("PUT", "/v1/resource-definitions/res1",
                  R"({"override_props":{"Aux/a":"1","Aux/b":"2"},"delete_props":[]})");
  EXPECT_EQ(put.status, 200);
  put = Http("PUT", "/v1/resource-definitions/res1", R"({"delete_props":["Aux/a"]})");
  EXPECT_EQ(put.status, 200);
  json::value rd = json::parse(Get("/v1/resource-definitions/res1"));
  EXPECT_FALSE(rd.at("props").as_object().contains("Aux/a"));
  EXPECT_EQ(rd.at("props").at("Aux/b"), "2");

  std::string before = State();
  auto bad_group = Tandem({"rd", "m", "res1", "--resource-group", "missing"});
  EXPECT_EQ(bad_group.exit_code, 10);
  EXPECT_THAT(bad_group.out, HasSubstr("missing"));
  auto zero = Tandem({"rg", "modify", "grp", "--place-count", "0", "--description", "x"});
  EXPECT_EQ(zero.exit_code, 10);
  EXPECT_THAT(zero.out, HasSubstr("Place count"));
  auto bad_prop = Http("PUT", "/v1/resource-groups/grp",
                       R"({"override_props":{"DrbdOptions/auto-quorum":"never"}})");
  EXPECT_EQ(bad_prop.status, 500);
  EXPECT_EQ(Http("PUT", "/v1/resource-definitions/nores", "{}").status, 404);
  EXPECT_EQ(Http("PUT", "/v1/resource-groups/grp", R"({"select_filter":7})").status, 400);
  EXPECT_EQ(State(), before);
}

TEST_F(ControllerIntegrationTest, NodeEvacuateRestoreLost) {
  ThreeNodes();
  TandemOk({"node", "create", "delta", "127.0.0.1"});
  TandemOk({"sp", "c", "filethin", "delta", "pool", "/srv/pool"});
  TandemOk({"sp", "sp", "delta", "pool", "Tandem/Capacity/TotalKib", "104857600"});
  TandemOk({"rg", "c", "grp", "--place-count", "2", "--storage-pool", "pool"});
  TandemOk({"rg", "spawn", "grp", "res1", "1G"});
  EXPECT_THAT(Placement("res1"), ::testing::ElementsAre("alpha", "bravo", "charlie(tb)"));

  TandemOk({"n", "evacuate", "alpha"});
  // No satellite reports the new replica UpToDate here, so the leaving one
  // stays (flagged EVACUATE) beside it; the tiebreaker moved off charlie.
  EXPECT_THAT(Placement("res1"), ::testing::ElementsAre("alpha", "bravo", "charlie", "delta(tb)"));
  EXPECT_THAT(Get("/v1/resource-definitions/res1/resources/alpha"), HasSubstr("EVACUATE"));
  json::value alpha = json::parse(Get("/v1/nodes/alpha"));
  EXPECT_THAT(json::serialize(alpha.at("flags")), HasSubstr("EVACUATE"));
  auto list = Tandem({"n", "l"});
  EXPECT_THAT(list.out, HasSubstr("EVACUATE"));
  TandemOk({"rg", "spawn", "grp", "res2", "1G"});  // not placed on alpha
  for (const auto& n : Placement("res2")) EXPECT_EQ(n.find("alpha"), std::string::npos) << n;

  TandemOk({"node", "restore", "alpha"});
  EXPECT_THAT(Tandem({"n", "l"}).out, ::testing::Not(HasSubstr("EVACUATE")));
  EXPECT_THAT(Get("/v1/nodes/alpha"), ::testing::Not(HasSubstr("EVACUATE")));

  TandemOk({"n", "lost", "charlie"});
  EXPECT_EQ(Http("GET", "/v1/nodes/charlie").status, 404);
  for (const auto& n : Placement("res1")) EXPECT_EQ(n.find("charlie"), std::string::npos) << n;
  EXPECT_EQ(Get("/v1/view/resources?nodes=charlie"), "[]");

  // Nowhere to go: refused, nothing changes.
  TandemOk({"rg", "c", "all", "--place-count", "3", "--storage-pool", "pool"});
  TandemOk({"rg", "spawn", "all", "res3", "1G"});
  std::string before = State();
  auto refused = Tandem({"n", "evacuate", "bravo"});
  EXPECT_EQ(refused.exit_code, 10);
  EXPECT_THAT(refused.out, HasSubstr("Cannot evacuate node 'bravo'"));
  EXPECT_THAT(refused.out, HasSubstr("res3"));
  EXPECT_EQ(State(), before);
  EXPECT_EQ(Http("PUT", "/v1/nodes/nonode/evacuate").status, 404);
  EXPECT_EQ(Http("DELETE", "/v1/nodes/nonode/lost").status, 404);
  EXPECT_EQ(Http("PUT", "/v1/nodes/bravo/evacuate", R"({"target":["alpha"]})").status, 500);
  EXPECT_EQ(Tandem({"n", "evacuate", "bravo", "--do-not-target", "alpha"}).exit_code, 10);
  EXPECT_EQ(Tandem({"n", "evacuate", "bravo", "--target", "nonode"}).exit_code, 10);
  EXPECT_EQ(State(), before);
}

// ---- node interface ---------------------------------------------------------

TEST_F(ControllerIntegrationTest, NodeInterfaceCreateListModifyDelete) {
  ThreeNodes();
  TandemOk({"node", "interface", "create", "alpha", "nic1", "127.0.0.2", "--port", "3400"});
  auto list = Tandem({"n", "i", "l", "alpha"});
  ASSERT_EQ(list.exit_code, 0) << list.out;
  EXPECT_THAT(list.out, HasSubstr("NetInterface"));
  EXPECT_THAT(list.out, HasSubstr("+ StltCon ┊ default"));
  EXPECT_THAT(list.out, HasSubstr("┊ +         ┊ nic1         ┊ 127.0.0.2 ┊ 3400 ┊ PLAIN"));
  auto machine = Tandem({"-m", "n", "i", "l", "alpha"});
  ASSERT_EQ(machine.exit_code, 0);
  EXPECT_EQ(json::parse(machine.out).as_array()[0].as_array().size(), 2u);

  // Activating nic1 (with a new address) moves the satellite connection there.
  TandemOk({"n", "i", "m", "alpha", "nic1", "--ip", "127.0.0.3", "--active"});
  json::value nic = json::parse(Get("/v1/nodes/alpha/net-interfaces/nic1"));
  EXPECT_EQ(nic.at("address"), "127.0.0.3");
  EXPECT_EQ(nic.at("is_active"), true);
  EXPECT_THAT(Tandem({"n", "l"}).out, HasSubstr("127.0.0.3:3400 (PLAIN)"));
  EXPECT_THAT(Tandem({"n", "i", "l", "alpha"}).out, HasSubstr("+ StltCon ┊ nic1"));
  TandemOk({"n", "i", "d", "alpha", "default"});
  EXPECT_EQ(Http("GET", "/v1/nodes/alpha/net-interfaces/default").status, 404);

  controller_->Stop();
  ASSERT_TRUE(controller_->Start());
  json::value after = json::parse(Get("/v1/nodes/alpha/net-interfaces"));
  ASSERT_EQ(after.as_array().size(), 1u);
  EXPECT_EQ(after.as_array()[0].at("address"), "127.0.0.3");
  EXPECT_EQ(after.as_array()[0].at("satellite_port"), 3400);
  EXPECT_EQ(after.as_array()[0].at("is_active"), true);
}

TEST_F(ControllerIntegrationTest, RefusedNodeInterfaceRequestsChangeNothing) {
  ThreeNodes();
  TandemOk({"n", "i", "c", "alpha", "nic1", "127.0.0.2"});
  std::string before = State();
  auto dup = Tandem({"n", "i", "c", "alpha", "NIC1", "127.0.0.4"});
  EXPECT_EQ(dup.exit_code, 10);
  EXPECT_THAT(dup.out, HasSubstr("already exists"));
  EXPECT_THAT(dup.out, HasSubstr("Correction:"));
  auto bad_ip = Tandem({"n", "i", "c", "alpha", "nic2", "300.1.1.1"});
  EXPECT_EQ(bad_ip.exit_code, 10);
  EXPECT_THAT(bad_ip.out, HasSubstr("is not a valid IP address"));
  EXPECT_EQ(
      Http("POST", "/v1/nodes/alpha/net-interfaces", R"({"name":"nic2","address":"x"})").status,
      500);
  EXPECT_EQ(Tandem({"n", "i", "c", "alpha", "nic2", "127.0.0.5", "--port", "0"}).exit_code, 10);
  auto last = Tandem({"n", "i", "d", "bravo", "default"});
  EXPECT_EQ(last.exit_code, 10);
  EXPECT_THAT(last.out, HasSubstr("is the last one of node 'bravo'"));
  EXPECT_EQ(Http("DELETE", "/v1/nodes/bravo/net-interfaces/default").status, 500);
  auto active = Tandem({"n", "i", "d", "alpha", "default"});
  EXPECT_EQ(active.exit_code, 10);
  EXPECT_THAT(active.out, HasSubstr("active satellite connection"));
  auto no_node = Tandem({"n", "i", "c", "nonode", "nic1", "127.0.0.2"});
  EXPECT_EQ(no_node.exit_code, 10);
  EXPECT_THAT(no_node.out, HasSubstr("Node 'nonode' not found"));
  EXPECT_EQ(
      Http("POST", "/v1/nodes/nonode/net-interfaces", R"({"name":"nic1","address":"127.0.0.2"})")
          .status,
      404);
  EXPECT_EQ(Tandem({"n", "i", "m", "alpha", "nic9", "--ip", "127.0.0.9"}).exit_code, 10);
  EXPECT_EQ(Tandem({"n", "i", "m", "alpha", "nic1", "--ip", "no.such"}).exit_code, 10);
  EXPECT_EQ(Tandem({"n", "i", "m", "alpha", "nic1"}).exit_code, 2);  // nothing to change
  EXPECT_EQ(Tandem({"n", "i", "l", "nonode"}).exit_code, 10);
  EXPECT_EQ(State(), before);
}

// ---- properties and drbd-options ----------------------------------------------

TEST_F(ControllerIntegrationTest, DrbdOptionsAndListProperties) {
  ThreeNodes();
  TandemOk({"rg", "c", "grp", "--place-count", "2"});
  TandemOk({"rg", "drbd-options", "grp", "--protocol", "C", "--on-no-quorum", "io-error",
            "--c-max-rate", "100M", "--max-buffers", "8000", "--after-sb-0pri",
            "discard-zero-changes", "--allow-two-primaries", "no"});
  auto rg_lp = Tandem({"rg", "lp", "grp"});
  ASSERT_EQ(rg_lp.exit_code, 0) << rg_lp.out;
  EXPECT_THAT(rg_lp.out, HasSubstr("┊ DrbdOptions/Net/protocol"));
  EXPECT_THAT(rg_lp.out, ::testing::ContainsRegex("┊ DrbdOptions/PeerDevice/c-max-rate +┊ 100M "));
  json::value g = json::parse(Get("/v1/resource-groups/grp"));
  EXPECT_EQ(g.at("props").at("DrbdOptions/Resource/on-no-quorum"), "io-error");
  EXPECT_EQ(g.at("props").at("DrbdOptions/Net/after-sb-0pri"), "discard-zero-changes");
  EXPECT_EQ(g.at("props").at("DrbdOptions/Net/allow-two-primaries"), "no");

  TandemOk({"rd", "c", "res1", "--resource-group", "grp"});
  TandemOk({"rd", "opt", "res1", "--al-extents", "6007", "--verify-alg", "sha256", "--ping-timeout",
            "10"});
  EXPECT_THAT(Tandem({"rd", "lp", "res1"}).out, HasSubstr("DrbdOptions/Disk/al-extents"));
  TandemOk({"rd", "drbd-options", "res1", "--unset-verify-alg"});
  json::value rd = json::parse(Get("/v1/resource-definitions/res1"));
  EXPECT_FALSE(rd.at("props").as_object().contains("DrbdOptions/Net/verify-alg"));
  EXPECT_EQ(rd.at("props").at("DrbdOptions/Net/ping-timeout"), "10");

  TandemOk({"vd", "c", "res1", "1G"});
  TandemOk({"vd", "sp", "res1", "0", "Aux/x", "1"});
  EXPECT_THAT(Tandem({"vd", "lp", "res1", "0"}).out, HasSubstr("┊ Aux/x ┊ 1     ┊"));
  TandemOk({"vg", "c", "grp"});
  TandemOk({"vg", "sp", "grp", "0", "Aux/y", "2"});
  EXPECT_THAT(Tandem({"vg", "lp", "grp", "0"}).out, HasSubstr("Aux/y"));
  auto machine = Tandem({"-m", "rd", "lp", "res1"});
  EXPECT_EQ(json::parse(machine.out).as_array()[0].at("props").at("DrbdOptions/Disk/al-extents"),
            "6007");

  std::string before = State();
  auto bad = Tandem({"rg", "opt", "grp", "--protocol", "B"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.out, HasSubstr("Invalid value 'B' for DRBD option 'protocol'"));
  EXPECT_EQ(Tandem({"rg", "opt", "grp", "--ping-timeout", "0"}).exit_code, 1);
  EXPECT_EQ(Tandem({"rd", "opt", "res1", "--disk-flushes", "maybe"}).exit_code, 1);
  EXPECT_EQ(Tandem({"rg", "opt", "grp", "--frobnicate", "1"}).exit_code, 2);
  EXPECT_EQ(Tandem({"rg", "opt", "grp"}).exit_code, 1);  // nothing given
  auto no_rg = Tandem({"rg", "opt", "nogrp", "--protocol", "C"});
  EXPECT_EQ(no_rg.exit_code, 10);
  EXPECT_THAT(no_rg.out, HasSubstr("Resource group 'nogrp' not found"));
  EXPECT_EQ(Http("PUT", "/v1/resource-groups/grp",
                 R"({"override_props":{"DrbdOptions/Net/protocol":"B"}})")
                .status,
            500);
  EXPECT_EQ(Tandem({"rd", "lp", "nores"}).exit_code, 10);
  EXPECT_EQ(Tandem({"vd", "sp", "res1", "7", "Aux/x", "1"}).exit_code, 10);
  EXPECT_EQ(State(), before);

  controller_->Stop();
  ASSERT_TRUE(controller_->Start());
  EXPECT_EQ(State(), before);
  EXPECT_EQ(json::parse(Get("/v1/resource-definitions/res1"))
                .at("props")
                .at("DrbdOptions/Disk/al-extents"),
            "6007");
}

// ---- query-size-info ----------------------------------------------------------

TEST_F(ControllerIntegrationTest, QuerySizeInfo) {
  ThreeNodes();  // thin pools of 100 GiB, ratio 20
  TandemOk({"rg", "c", "grp", "--place-count", "2", "--storage-pool", "pool"});
  auto qsi = Tandem({"rg", "qsi", "grp"});
  ASSERT_EQ(qsi.exit_code, 0) << qsi.out;
  EXPECT_THAT(qsi.out, HasSubstr("MaxVolumeSize ┊ AvailableSize ┊ Capacity ┊ Next Spawn Result"));
  EXPECT_THAT(qsi.out, HasSubstr("┊ 1.95 TiB      ┊ 100 GiB       ┊ 100 GiB  ┊ pool on alpha"));
  EXPECT_THAT(qsi.out, HasSubstr("pool on bravo"));
  auto machine = Tandem({"-m", "rg", "query-size-info", "grp", "--place-count", "3"});
  ASSERT_EQ(machine.exit_code, 0) << machine.out;
  json::value v = json::parse(machine.out);
  EXPECT_EQ(v.at("space_info").at("next_spawn_result").as_array().size(), 3u);
  EXPECT_EQ(v.at("space_info").at("max_vlm_size_in_kib"), 104857600LL * 20);

  // Fat pools: the smallest free space among the chosen pools, as the spawn checks.
  for (const char* n : {"alpha", "bravo"}) {
    TandemOk({"sp", "c", "file", n, "fat", "/srv/fat"});
    TandemOk({"sp", "sp", n, "fat", "Tandem/Capacity/TotalKib", "10485760"});
  }
  TandemOk({"sp", "sp", "bravo", "fat", "Tandem/Capacity/FreeKib", "5242880"});
  TandemOk({"rg", "c", "fatgrp", "--place-count", "2", "--storage-pool", "fat"});
  auto fat = Tandem({"rg", "qsi", "fatgrp"});
  ASSERT_EQ(fat.exit_code, 0) << fat.out;
  EXPECT_THAT(fat.out, HasSubstr("┊ 5 GiB         ┊ 5 GiB         ┊ 10 GiB   ┊ fat on alpha"));

  std::string before = State();
  auto none = Tandem({"rg", "qsi", "grp", "--place-count", "4"});
  EXPECT_EQ(none.exit_code, 10);
  EXPECT_THAT(none.out, HasSubstr("Not enough available nodes: need 4, 3"));
  auto missing = Tandem({"rg", "qsi", "nogrp"});
  EXPECT_EQ(missing.exit_code, 10);
  EXPECT_THAT(missing.out, HasSubstr("Resource group 'nogrp' not found"));
  EXPECT_EQ(Http("POST", "/v1/resource-groups/nogrp/query-size-info", "{}").status, 404);
  // One KiB more than the reported maximum does not fit; the maximum does.
  EXPECT_EQ(Tandem({"rg", "spawn", "fatgrp", "big", "5242881K"}).exit_code, 10);
  EXPECT_EQ(State(), before);
  TandemOk({"rg", "spawn", "fatgrp", "res1", "5G"});
}

}  // namespace
