// Daemon: tandemd's top level. Owns the io_context thread's components: the
// admin socket, one ResourceHost per resource that is up, the persisted specs
// and the frontends (NBD sockets, FUSE). See docs/tandemd.md.
//
// Thread-safety: Run() runs the loop on the calling thread; every other
// method runs on that thread too, except RequestStop(), which may be called
// from a signal-handling context via the loop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/json.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/block_export.h"
#include "common/result.h"
#include "io/uring.h"
#include "tandemd/resource_host.h"

namespace tandem::tandemd {

struct DaemonOptions {
  std::string root = "/";
  std::string node;  // for messages only; specs carry node ids
  bool enable_faults = false;
  std::string nbd_listen;  // optional TCP address:port for NBD
  bool fuse = false;       // export volumes as FUSE files under run/tandem/dev
  std::string pid_file;
};

// Paths under a root (docs/tandemd.md, "Paths").
struct Paths {
  explicit Paths(std::string root);
  std::string root;
  std::string state_dir() const;  // var/lib/tandem/tandemd
  std::string run_dir() const;    // run/tandem
  std::string admin_socket() const;
  std::string nbd_dir() const;
  std::string nbd_socket(const std::string& res, uint16_t vnr) const;
  std::string fuse_dir() const;
  std::string res_dir() const;     // etc/tandem/resources.d
  std::string by_res_dir() const;  // dev/tandem/by-res
};

class Frontends;

class Daemon {
 public:
  explicit Daemon(DaemonOptions options);
  ~Daemon();

  // Sets up directories, the ring, the admin socket and the frontends, and
  // brings persisted resources up. Fails if another tandemd owns the socket.
  [[nodiscard]] Result<bool> Start();
  // Runs until a stop is requested (SIGTERM, SIGINT).
  void Run();
  boost::asio::io_context& context() { return ctx_; }

 private:
  class AdminConn;
  using Reply = std::function<void(boost::json::object)>;

  boost::asio::awaitable<void> AcceptAdmin();
  void Handle(const boost::json::object& req, Reply reply);
  void HandleUp(const boost::json::object& req, Reply reply);
  void HandleDown(ResourceHost* host, Reply reply);
  void DownAfterFrontends(ResourceHost* host, Reply reply);
  void HandleAdjust(const boost::json::object& req, Reply reply);
  void BringUp(ResourceSpec spec, std::function<void(const engine::AdminDone&)> done);
  void Broadcast(const std::string& line);
  void Persist(const ResourceSpec& spec);
  void Unpersist(const std::string& name);
  void LoadPersisted();
  void Shutdown();
  ResourceHost* Find(const std::string& name);

  DaemonOptions options_;
  Paths paths_;
  boost::asio::io_context ctx_;
  io::Uring uring_;
  std::unique_ptr<boost::asio::local::stream_protocol::acceptor> admin_;
  std::map<std::string, std::unique_ptr<ResourceHost>> hosts_;
  // Hosts that are down stay allocated (closed: every call fails at once), so
  // that a frontend connection still holding one of their exports never
  // touches freed memory. A down is rare; the cost is a few KiB each.
  std::vector<std::unique_ptr<ResourceHost>> retired_;
  std::vector<std::weak_ptr<AdminConn>> subscribers_;
  std::unique_ptr<Frontends> frontends_;
  bool stopping_ = false;
};

// Client side of the admin protocol (tandemadm, tests): one request, one
// response, synchronously.
Result<boost::json::object> AdminCall(const std::string& socket_path,
                                      const boost::json::object& request);
// events2: calls on_line for each event until it returns false or the
// daemon closes the stream.
Result<bool> AdminEvents(const std::string& socket_path, bool now,
                         const std::function<bool(const std::string&)>& on_line);

}  // namespace tandem::tandemd
