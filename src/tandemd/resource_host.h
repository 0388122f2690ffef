// ResourceHost: one resource's engine on real files and TCP.
//
// It is the engine's host (engine/resource.h): it feeds the engine events
// (admin commands, peer messages, disk completions, timers, application
// requests) and carries out the actions the engine returns. Disk I/O goes to
// the backing files through io_uring, messages to the peers through
// io::Transport. It also implements BlockExport for each volume, so the NBD
// and FUSE frontends reach the engine through it.
//
// Thread-safety: none; everything runs on the io_context's thread (docs/tandemd.md).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/block_export.h"
#include "common/result.h"
#include "engine/resource.h"
#include "io/block_file.h"
#include "io/transport.h"
#include "io/uring.h"
#include "tandemd/spec.h"

namespace tandem::tandemd {

using AdminCallback = std::function<void(const engine::AdminDone&)>;

// Fault hooks on one volume's backing device (tandemd --enable-faults).
struct DiskFaults {
  int fail_reads = 0;  // -1 = every one until cleared, n = the next n
  int fail_writes = 0;
  int fail_flushes = 0;
  bool data = true;   // the failures apply to data-area I/O
  bool meta = false;  // ... and to metadata I/O
  bool frozen = false;
};

// Counters of one volume's backing device; metadata I/O counted apart.
struct DiskStats {
  uint64_t reads = 0, writes = 0, flushes = 0;
  uint64_t bytes_read = 0, bytes_written = 0;
  uint64_t md_writes = 0, md_bytes_written = 0;
};

// Metadata placement of one volume (docs/tandemd.md, "Metadata placement").
struct MdLocation {
  uint64_t md_base = 0;  // byte offset of the md area in its file
  uint64_t md_bytes = 0;
  uint32_t max_peers = 0;
};
// Finds valid metadata for `v` (backing size `backing_bytes`), preferring
// spec.MaxPeers() slots. kNotFound when there is none.
Result<MdLocation> LocateMetadata(const ResourceSpec& spec, const VolumeSpec& v,
                                  io::BlockFile* data, io::BlockFile* meta);
// tandemadm create-md: writes fresh metadata. Refuses to overwrite valid
// metadata unless `force`. `max_peers` bitmap slots (0: spec.MaxPeers()); more
// slots than peers leave room for replicas added later. Returns a line
// describing what was written.
Result<std::string> CreateMetadataOn(const ResourceSpec& spec, uint16_t vnr, bool force,
                                     uint32_t max_peers = 0);

class ResourceHost : public io::Transport::Handler {
 public:
  using EventSink = std::function<void(const std::string& line)>;

  // state_dir (var/lib/tandem/tandemd) keeps the records of grows in
  // progress; without one, Grow is refused.
  ResourceHost(boost::asio::io_context& ctx, io::Uring* uring, ResourceSpec spec, EventSink events,
               std::string state_dir = {});
  ~ResourceHost() override;

  // Opens the backing files and the listening socket. Nothing is changed on
  // failure.
  [[nodiscard]] Result<bool> Open();
  // Stops the transport and closes files; no callback runs afterwards.
  void Close();

  // up: attach every volume with a disk, then connect to every peer.
  void Up(AdminCallback done);
  void Down(AdminCallback done);
  void Attach(int vnr, AdminCallback done);  // vnr < 0: all
  void Detach(int vnr, AdminCallback done);
  // Runs one engine admin command with a fresh cookie.
  void Admin(std::function<void(engine::Resource&, uint64_t)> call, AdminCallback done);
  // adjust: apply a changed spec: options, peers joining or leaving (the
  // engine's Reconfigure), detached volumes attached, StandAlone peers
  // connected. Refuses changes of this node's id, address or disk, of the
  // volumes and of the shared secret (those need down and up).
  void Adjust(const ResourceSpec& spec, AdminCallback done);
  // Online grow of this node's backing file (docs/tandemd.md "Online grow"):
  // extends it so that at least `usable_bytes` are usable (allocated when
  // `preallocate`) and has the engine relocate its metadata. The agreed size
  // changes only with resize.
  void Grow(uint16_t vnr, uint64_t usable_bytes, bool preallocate, AdminCallback done);

  engine::ResourceStatus Status() const { return res_->GetStatus(); }
  boost::json::object StatusJson() const;
  boost::json::object StatsJson() const;
  // events2 --now: the current state as "exists" lines.
  std::vector<std::string> ExistsLines() const;
  const ResourceSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name; }

  BlockExport* Export(uint16_t vnr);

  // Fault hooks; false and a message when the request is malformed.
  Result<bool> Fault(const boost::json::object& req);

  // io::Transport::Handler
  void OnUp(uint8_t peer) override;
  void OnDown(uint8_t peer) override;
  void OnMessage(uint8_t peer, engine::Message msg) override;

 private:
  // The options step of Adjust, and the attach and connect that end it.
  void AdjustOptions(const ResourceSpec& spec, AdminCallback done);
  class VolumeExport;
  struct Volume {
    uint16_t vnr = 0;
    VolumeSpec spec;
    std::unique_ptr<io::BlockFile> data;
    std::unique_ptr<io::BlockFile> meta;  // external metadata only
    MdLocation md;
    MdLocation next_md;   // where the metadata goes while a grow relocates it
    bool growing = false;
    DiskFaults faults;
    DiskStats stats;
    std::deque<std::function<void()>> held;  // completions held by a freeze
    uint64_t size_bytes = 0;                 // the volume's size, from engine status
    std::unique_ptr<VolumeExport> exp;
  };

  struct EngineEnv : engine::Env {
    std::mt19937_64 rng{std::random_device{}()};
    uint64_t Random64() override { return rng(); }
  };

  engine::Time Now() const;
  template <class F>
  void Dispatch(F&& fn);
  void Drain();
  void Execute(engine::Action& a);
  void DoDiskIo(engine::DiskIo& io);
  void DiskDone(uint16_t vnr, uint64_t io_id, bool ok, SharedBytes data);
  void ArmTimer(engine::Time at);
  void RefreshSizes();
  Volume* FindVolume(uint16_t vnr);
  std::string GrowRecordPath(uint16_t vnr) const;
  // At attach: finishes or undoes a grow that a crash interrupted.
  Result<bool> SettleGrow(Volume* v);

  // Frontends.
  void AcquireWriter(std::function<void(OpenResult)> cb);
  void ReleaseWriter();
  void SubmitApp(uint16_t vnr, BlockRequest req, std::function<void(BlockResult)> cb);

  boost::asio::io_context& ctx_;
  io::Uring* uring_;
  ResourceSpec spec_;
  EventSink events_;
  std::string state_dir_;
  std::chrono::steady_clock::time_point epoch_;
  EngineEnv env_;
  std::unique_ptr<engine::Resource> res_;
  std::unique_ptr<io::Transport> transport_;
  std::vector<std::unique_ptr<Volume>> volumes_;
  boost::asio::steady_timer timer_;
  engine::Time timer_at_ = -1;
  int depth_ = 0;
  bool closed_ = false;
  std::shared_ptr<bool> alive_;
  uint64_t next_cookie_ = 1;
  uint64_t next_req_ = 1;
  std::unordered_map<uint64_t, AdminCallback> admin_;
  std::unordered_map<uint64_t, std::function<void(BlockResult)>> app_;
  // Writers (auto-promote): opens waiting for a promotion in progress.
  bool promoting_ = false;
  std::vector<std::function<void(OpenResult)>> promote_waiters_;
  std::vector<engine::Action> actions_;
};

}  // namespace tandem::tandemd
