// Satellite: the tandem-satellite process (docs/satellite-protocol.md). It
// listens for the controller, keeps the desired state the controller sends,
// applies it with a pool of worker threads (one resource at a time per
// resource, many resources in parallel), and reports pools and what the local
// tandemd observes.
//
// Threads: the accept loop (Run's caller), one reader per controller
// connection, `workers` appliers, one reporter, one events2 listener. All
// shared state is under mu_.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "satellite/apply.h"
#include "satproto/messages.h"

namespace tandem::satellite {

struct SatelliteOptions {
  std::string root = "/";
  std::string node;                          // default: the host name
  std::string listen_address = "0.0.0.0";
  uint16_t listen_port = satproto::kDefaultSatellitePort;
  int workers = 8;
  std::string pid_file;
};

class Satellite {
 public:
  explicit Satellite(SatelliteOptions options);
  ~Satellite();

  Status Start();  // binds, loads the state file, starts the threads
  void Run();      // accepts controllers until Stop()
  void Stop();     // thread-safe
  uint16_t port() const { return port_; }

 private:
  struct Conn;
  struct Work {
    bool remove = false;
    satproto::ResourceDesired desired;
    std::vector<uint64_t> generations;  // acknowledged when this is done
  };

  static Work Removal(const std::string& name, std::vector<uint64_t> generations);
  // REQUIRES mu_.
  void RetryFailed();
  void Serve(std::shared_ptr<Conn> conn);
  void Handle(const std::shared_ptr<Conn>& conn, const boost::json::object& msg);
  void OnFullSync(const std::shared_ptr<Conn>& conn, satproto::FullSync m);
  void OnUpdate(satproto::Update m);
  void Enqueue(const std::string& name, Work w);  // REQUIRES: mu_ held
  void OpenGeneration(uint64_t gen, int items);   // REQUIRES: mu_ held
  void FinishGenerations(const std::vector<uint64_t>& gens);  // REQUIRES: mu_ held
  void Worker();
  void Reporter();
  void EventsListener();
  void Post(std::shared_ptr<Conn> c, boost::json::object msg);  // any lock may be held
  void Sender();
  satproto::Report BuildReport(bool full);
  void MaybeSkipInitialSync(const satproto::ResourceDesired& r, const boost::json::object& st);
  Status SaveState();

  SatelliteOptions options_;
  Applier applier_;
  boost::asio::io_context ctx_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  uint16_t port_ = 0;

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable report_cv_;
  bool stopping_ = false;
  std::shared_ptr<Conn> conn_;  // the current controller, if any
  std::string cluster_id_;
  PoolMap pools_;
  std::map<std::string, satproto::ResourceDesired> desired_;
  std::map<std::string, satproto::ResourceDesired> applied_;  // last applied successfully
  std::map<std::string, std::string> errors_;                  // last apply error
  std::map<std::string, Work> pending_;
  std::set<std::string> running_;
  std::map<uint64_t, int> outstanding_;  // generation -> unfinished work items
  uint64_t acked_ = 0;
  bool full_report_ = false;  // the next report replaces the controller's view
  bool dirty_ = true;
  std::map<std::string, satproto::ResourceState> reported_;
  std::set<std::pair<std::string, std::string>> split_brain_;  // (resource, peer name)
  std::set<std::string> sync_skipped_;
  std::vector<std::thread> threads_;

  std::mutex out_mu_;  // may be taken while mu_ is held, never the other way
  std::condition_variable out_cv_;
  std::deque<std::pair<std::shared_ptr<Conn>, boost::json::object>> outbox_;
  bool out_stop_ = false;
};

}  // namespace tandem::satellite
