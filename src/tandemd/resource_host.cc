#include "tandemd/resource_host.h"

#include <fcntl.h>
#include <linux/falloc.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <fstream>

#include "common/check.h"
#include "common/log.h"
#include "engine/metadata.h"

namespace tandem::tandemd {

namespace asio = boost::asio;
namespace json = boost::json;
using engine::AdminDone;
using engine::SsCode;

namespace {

AdminDone Done(SsCode code, std::string msg = {}) {
  AdminDone d;
  d.code = code;
  d.message = std::move(msg);
  return d;
}

// Calls `done` once after `n` sub-results; the first failure wins.
struct Gather {
  int remaining = 0;
  std::optional<AdminDone> failure;
  AdminCallback done;
  void One(const AdminDone& d) {
    if (!d.ok() && !failure) failure = d;
    if (--remaining == 0 && done) done(failure ? *failure : Done(SsCode::kSuccess));
  }
};

int ErrnoFor(engine::IoStatus s) {
  switch (s) {
    case engine::IoStatus::kOk:
      return 0;
    case engine::IoStatus::kNotPrimary:
      return EROFS;
    case engine::IoStatus::kInvalid:
      return EINVAL;
    case engine::IoStatus::kIoError:
    case engine::IoStatus::kNoData:
      return EIO;
  }
  return EIO;
}

}  // namespace

// --- metadata placement -----------------------------------------------------

Result<MdLocation> LocateMetadata(const ResourceSpec& spec, const VolumeSpec& v,
                                  io::BlockFile* data, io::BlockFile* meta) {
  bool internal = v.internal_md();
  uint64_t backing = data->size();
  io::BlockFile* md_file = internal ? data : meta;
  std::vector<uint32_t> tries = {spec.MaxPeers()};
  for (uint32_t mp = 1; mp <= kMaxNodes - 1; ++mp) {
    if (mp != spec.MaxPeers()) tries.push_back(mp);
  }
  for (uint32_t mp : tries) {
    Result<engine::MdLayout> l =
        engine::ComputeLayout(backing, mp, engine::kAlDefaultRingSlots, internal);
    if (!l.ok()) continue;
    uint64_t base = internal ? l->usable_bytes : 0;
    if (md_file->size() < base + l->md_bytes) continue;
    Result<Bytes> block = md_file->ReadSync(base, engine::kMdBlock);
    if (!block.ok()) return block.error();
    Result<engine::Superblock> sb = engine::DecodeSuperblock(*block);
    if (!sb.ok() || sb->max_peers != mp || sb->md_bytes != l->md_bytes) continue;
    return MdLocation{base, l->md_bytes, mp};
  }
  return Error{Errc::kNotFound, "no valid metadata on " + md_file->path() +
                                    " (run tandemadm create-md " + spec.name + ")"};
}

Result<std::string> CreateMetadataOn(const ResourceSpec& spec, uint16_t vnr, bool force,
                                     uint32_t max_peers) {
  const VolumeSpec* v = spec.FindVolume(vnr);
  if (!v) return Error{Errc::kNotFound, spec.name + " has no volume " + std::to_string(vnr)};
  if (!v->has_disk()) {
    return Error{Errc::kInvalidArgument,
                 spec.name + "/" + std::to_string(vnr) + " is diskless on this node"};
  }
  // Synchronous I/O only: no ring needed.
  io::BlockFile data(nullptr), meta(nullptr);
  if (auto r = data.Open(v->disk); !r.ok()) return r.error();
  if (!v->internal_md()) {
    if (auto r = meta.Open(v->meta_disk); !r.ok()) return r.error();
  }
  if (!force) {
    Result<MdLocation> existing = LocateMetadata(spec, *v, &data, &meta);
    if (existing.ok()) {
      return Error{Errc::kAlreadyExists,
                   "valid metadata found on " + (v->internal_md() ? v->disk : v->meta_disk) +
                       "; use --force to overwrite it (this forgets the replication state)"};
    }
  }
  engine::CreateMdParams p;
  p.backing_bytes = data.size();
  p.internal = v->internal_md();
  p.node_id = spec.node_id;
  p.max_peers = std::max(max_peers, spec.MaxPeers());
  if (p.max_peers > kMaxNodes - 1) p.max_peers = kMaxNodes - 1;
  p.al_extents = spec.options.al_extents;
  p.peers_with_bitmap = spec.DiskfulPeers();
  for (const NodeSpec& n : spec.nodes) p.all_nodes.push_back(n.id);
  Result<engine::MdLayout> l =
      engine::ComputeLayout(p.backing_bytes, p.max_peers, p.al_ring_slots, p.internal);
  if (!l.ok()) return l.error();
  Result<Bytes> md = engine::CreateMetadata(p);
  if (!md.ok()) return md.error();
  io::BlockFile* target = p.internal ? &data : &meta;
  uint64_t base = p.internal ? l->usable_bytes : 0;
  if (!p.internal && meta.size() < l->md_bytes) {
    return Error{Errc::kInvalidArgument, "external meta-disk " + v->meta_disk + " holds " +
                                             std::to_string(meta.size()) + " bytes, needs " +
                                             std::to_string(l->md_bytes)};
  }
  if (auto r = target->WriteSync(base, *md); !r.ok()) return r.error();
  return "initialized metadata for " + spec.name + "/" + std::to_string(vnr) + " on " +
         target->path() + ": " + std::to_string(l->usable_bytes) + " usable bytes, " +
         std::to_string(p.max_peers) + " bitmap slot(s)";
}

// --- the BlockExport of one volume ---------------------------------------------

class ResourceHost::VolumeExport : public BlockExport {
 public:
  VolumeExport(ResourceHost* host, uint16_t vnr) : host_(host), vnr_(vnr) {}
  uint64_t SizeBytes() const override {
    Volume* v = host_->FindVolume(vnr_);
    return v ? v->size_bytes : 0;
  }
  void Open(OpenMode mode, std::function<void(OpenResult)> cb) override {
    if (mode == OpenMode::kReadOnly) return cb(OpenResult{});
    host_->AcquireWriter(std::move(cb));
  }
  void Close(OpenMode mode) override {
    if (mode == OpenMode::kReadWrite) host_->ReleaseWriter();
  }
  void Submit(BlockRequest req, std::function<void(BlockResult)> cb) override {
    host_->SubmitApp(vnr_, std::move(req), std::move(cb));
  }
  void Post(std::function<void()> fn) override {
    // The host may be gone by the time fn runs; fn must check through its
    // own state (the frontends drop their exports before the host goes).
    asio::post(host_->ctx_, std::move(fn));
  }

 private:
  ResourceHost* host_;
  uint16_t vnr_;
};

// --- lifecycle ------------------------------------------------------------------

ResourceHost::ResourceHost(asio::io_context& ctx, io::Uring* uring, ResourceSpec spec,
                           EventSink events, std::string state_dir)
    : ctx_(ctx),
      uring_(uring),
      spec_(std::move(spec)),
      events_(std::move(events)),
      state_dir_(std::move(state_dir)),
      epoch_(std::chrono::steady_clock::now()),
      timer_(ctx),
      alive_(std::make_shared<bool>(true)) {}

ResourceHost::~ResourceHost() { Close(); }

namespace {

// The transport's view of the spec's other nodes.
Result<std::vector<io::TransportPeer>> PeersOf(const ResourceSpec& spec) {
  std::vector<io::TransportPeer> peers;
  for (const NodeSpec& n : spec.nodes) {
    if (n.id == spec.node_id) continue;
    Result<asio::ip::tcp::endpoint> a = io::ParseEndpoint(n.address);
    if (!a.ok()) return Error{a.code(), "node " + n.name + ": " + a.error().message};
    peers.push_back({n.id, *a});
  }
  return peers;
}

}  // namespace

Result<bool> ResourceHost::Open() {
  std::vector<std::unique_ptr<Volume>> vols;
  for (const VolumeSpec& vs : spec_.volumes) {
    auto v = std::make_unique<Volume>();
    v->vnr = vs.vnr;
    v->spec = vs;
    if (vs.has_disk() && !spec_.diskless()) {
      v->data = std::make_unique<io::BlockFile>(uring_);
      if (auto r = v->data->Open(vs.disk); !r.ok()) return r.error();
      if (!vs.internal_md()) {
        v->meta = std::make_unique<io::BlockFile>(uring_);
        if (auto r = v->meta->Open(vs.meta_disk); !r.ok()) return r.error();
      }
    }
    v->exp = std::make_unique<VolumeExport>(this, vs.vnr);
    vols.push_back(std::move(v));
  }
  const NodeSpec* me = spec_.self();
  Result<asio::ip::tcp::endpoint> listen = io::ParseEndpoint(me->address);
  if (!listen.ok()) return listen.error();
  io::TransportOptions t;
  t.resource = spec_.name;
  t.self = spec_.node_id;
  t.shared_secret = spec_.shared_secret;
  t.listen = *listen;
  t.ping_int = std::chrono::milliseconds(spec_.options.ping_int / engine::kMs);
  t.ping_timeout = std::chrono::milliseconds(spec_.options.ping_timeout / engine::kMs);
  Result<std::vector<io::TransportPeer>> peers = PeersOf(spec_);
  if (!peers.ok()) return peers.error();
  t.peers = std::move(peers).value();
  auto transport = std::make_unique<io::Transport>(ctx_, std::move(t), this);
  if (auto r = transport->Start(); !r.ok()) return r.error();
  volumes_ = std::move(vols);
  transport_ = std::move(transport);
  res_ = std::make_unique<engine::Resource>(spec_.ToEngineConfig(), &env_);
  Dispatch([](engine::Resource&) {});
  RefreshSizes();
  return true;
}

void ResourceHost::Close() {
  if (closed_) return;
  closed_ = true;
  *alive_ = false;
  timer_.cancel();
  if (transport_) transport_->Stop();
  // Fail what is still pending so frontends can let go.
  auto app = std::move(app_);
  for (auto& [id, cb] : app) cb(BlockResult{EIO, nullptr});
  auto admin = std::move(admin_);
  for (auto& [c, cb] : admin) cb(Done(SsCode::kTimeout, spec_.name + " is shutting down"));
  auto waiters = std::move(promote_waiters_);
  for (auto& w : waiters) w(OpenResult{EIO, spec_.name + " is shutting down"});
}

engine::Time ResourceHost::Now() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              epoch_)
      .count();
}

template <class F>
void ResourceHost::Dispatch(F&& fn) {
  if (closed_ || !res_) return;
  ++depth_;
  res_->AdvanceTime(Now());
  fn(*res_);
  if (depth_ == 1) Drain();
  --depth_;
}

void ResourceHost::Drain() {
  std::vector<engine::Action> actions;
  for (;;) {
    if (closed_) return;
    actions.clear();
    res_->TakeActions(&actions);
    if (actions.empty()) return;
    for (engine::Action& a : actions) Execute(a);
  }
}

void ResourceHost::Execute(engine::Action& action) {
  std::visit(
      [&](auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, engine::SendMsg>) {
          transport_->Send(a.peer.value(), a.msg);
        } else if constexpr (std::is_same_v<T, engine::DiskIo>) {
          DoDiskIo(a);
        } else if constexpr (std::is_same_v<T, engine::Complete>) {
          auto it = app_.find(a.req_id);
          if (it == app_.end()) return;
          auto cb = std::move(it->second);
          app_.erase(it);
          cb(BlockResult{ErrnoFor(a.status), std::move(a.data)});
        } else if constexpr (std::is_same_v<T, engine::WantConnection>) {
          transport_->SetWant(a.peer.value(), a.want);
        } else if constexpr (std::is_same_v<T, engine::DropConnection>) {
          transport_->Drop(a.peer.value());
        } else if constexpr (std::is_same_v<T, engine::ArmTimer>) {
          ArmTimer(a.at);
        } else if constexpr (std::is_same_v<T, AdminDone>) {
          auto it = admin_.find(a.cookie);
          if (it == admin_.end()) return;
          auto cb = std::move(it->second);
          admin_.erase(it);
          cb(a);
        } else if constexpr (std::is_same_v<T, engine::Event>) {
          RefreshSizes();
          if (events_) events_(a.line);
        }
      },
      action);
}

void ResourceHost::ArmTimer(engine::Time at) {
  timer_at_ = at;
  timer_.expires_at(epoch_ + std::chrono::nanoseconds(at));
  std::shared_ptr<bool> alive = alive_;
  timer_.async_wait([this, alive, at](const boost::system::error_code& ec) {
    if (ec || !*alive || timer_at_ != at) return;
    timer_at_ = -1;
    Dispatch([](engine::Resource&) {});
  });
}

void ResourceHost::RefreshSizes() {
  engine::ResourceStatus st = res_->GetStatus();
  for (const engine::VolumeStatus& vs : st.volumes) {
    if (Volume* v = FindVolume(vs.vnr.value())) v->size_bytes = vs.size_bytes;
  }
}

ResourceHost::Volume* ResourceHost::FindVolume(uint16_t vnr) {
  for (auto& v : volumes_) {
    if (v->vnr == vnr) return v.get();
  }
  return nullptr;
}

BlockExport* ResourceHost::Export(uint16_t vnr) {
  Volume* v = FindVolume(vnr);
  return v ? v->exp.get() : nullptr;
}

// --- disk I/O -------------------------------------------------------------------

void ResourceHost::DoDiskIo(engine::DiskIo& io) {
  Volume* v = FindVolume(io.vnr.value());
  uint16_t vnr = io.vnr.value();
  uint64_t id = io.io_id;
  if (!v || !v->data) {
    asio::post(ctx_, [this, alive = alive_, vnr, id] {
      if (*alive) DiskDone(vnr, id, false, nullptr);
    });
    return;
  }
  io::BlockFile* file = v->data.get();
  uint64_t offset = io.offset;
  if (io.area == engine::DiskArea::kMeta) {
    if (v->meta) file = v->meta.get();
    offset += v->md.md_base;
  } else if (io.area == engine::DiskArea::kMetaNext) {
    offset += v->next_md.md_base;  // internal metadata only (Grow)
  }
  // Fault hooks: fail this class of I/O.
  int* fail = nullptr;
  if (io.op == engine::DiskOp::kRead) fail = &v->faults.fail_reads;
  if (io.op == engine::DiskOp::kWrite || io.op == engine::DiskOp::kTrim ||
      io.op == engine::DiskOp::kZeroes) {
    fail = &v->faults.fail_writes;
  }
  if (io.op == engine::DiskOp::kFlush) fail = &v->faults.fail_flushes;
  bool inject = fail && *fail != 0;
  if (inject && *fail > 0) --*fail;
  auto done = [this, alive = alive_, vnr, id](int err, SharedBytes data) {
    if (!*alive) return;
    DiskDone(vnr, id, err == 0, std::move(data));
  };
  if (inject) {
    asio::post(ctx_, [done] { done(EIO, nullptr); });
    return;
  }
  switch (io.op) {
    case engine::DiskOp::kRead:
      ++v->stats.reads;
      v->stats.bytes_read += io.length;
      file->Read(offset, io.length, done);
      break;
    case engine::DiskOp::kWrite:
      if (io.area != engine::DiskArea::kData) {
        ++v->stats.md_writes;
        v->stats.md_bytes_written += io.length;
      } else {
        ++v->stats.writes;
        v->stats.bytes_written += io.length;
      }
      file->Write(offset, io.data, io.fua, done);
      break;
    case engine::DiskOp::kFlush:
      ++v->stats.flushes;
      file->Flush(done);
      break;
    case engine::DiskOp::kTrim:
      file->Trim(offset, io.length, done);
      break;
    case engine::DiskOp::kZeroes:
      file->Zeroes(offset, io.length, done);
      break;
  }
}

void ResourceHost::DiskDone(uint16_t vnr, uint64_t io_id, bool ok, SharedBytes data) {
  Volume* v = FindVolume(vnr);
  if (v && v->faults.frozen) {
    v->held.push_back([this, vnr, io_id, ok, data] { DiskDone(vnr, io_id, ok, data); });
    return;
  }
  Dispatch([&](engine::Resource& r) { r.OnDiskComplete(io_id, ok, std::move(data)); });
}

// --- transport ------------------------------------------------------------------

void ResourceHost::OnUp(uint8_t peer) {
  Dispatch([&](engine::Resource& r) { r.OnTransportUp(NodeId(peer)); });
}
void ResourceHost::OnDown(uint8_t peer) {
  Dispatch([&](engine::Resource& r) { r.OnTransportDown(NodeId(peer)); });
}
void ResourceHost::OnMessage(uint8_t peer, engine::Message msg) {
  Dispatch([&](engine::Resource& r) { r.OnMessage(NodeId(peer), std::move(msg)); });
}

// --- admin ------------------------------------------------------------------------

void ResourceHost::Admin(std::function<void(engine::Resource&, uint64_t)> call,
                         AdminCallback done) {
  if (closed_) return done(Done(SsCode::kTimeout, spec_.name + " is shutting down"));
  uint64_t cookie = next_cookie_++;
  admin_[cookie] = std::move(done);
  Dispatch([&](engine::Resource& r) { call(r, cookie); });
}

void ResourceHost::Attach(int vnr, AdminCallback done) {
  std::vector<Volume*> targets;
  for (auto& v : volumes_) {
    if (v->data && (vnr < 0 || v->vnr == vnr)) targets.push_back(v.get());
  }
  if (targets.empty()) {
    if (vnr < 0) return done(Done(SsCode::kNothingToDo, "no volume with a local disk"));
    return done(Done(SsCode::kNoLocalDisk,
                     spec_.name + "/" + std::to_string(vnr) + " has no local disk on this node"));
  }
  auto g = std::make_shared<Gather>();
  g->remaining = static_cast<int>(targets.size());
  g->done = std::move(done);
  for (Volume* v : targets) {
    if (Result<bool> settled = SettleGrow(v); !settled.ok()) {
      g->One(Done(SsCode::kNoLocalDisk, settled.error().message));
      continue;
    }
    Result<MdLocation> loc = LocateMetadata(spec_, v->spec, v->data.get(), v->meta.get());
    if (!loc.ok()) {
      g->One(Done(SsCode::kNoLocalDisk, loc.error().message));
      continue;
    }
    v->md = *loc;
    io::BlockFile* mdf = v->meta ? v->meta.get() : v->data.get();
    Result<Bytes> md = mdf->ReadSync(v->md.md_base, v->md.md_bytes);
    if (!md.ok()) {
      g->One(Done(SsCode::kNoLocalDisk, md.error().message));
      continue;
    }
    Bytes area = std::move(md).value();
    uint64_t backing = v->data->size();
    bool internal = v->spec.internal_md();
    uint16_t n = v->vnr;
    Admin(
        [&area, backing, internal, n](engine::Resource& r, uint64_t c) {
          r.Attach(c, VolumeNr(n), area, backing, internal);
        },
        [g](const AdminDone& d) { g->One(d); });
  }
}

// --- online grow (docs/tandemd.md "Online grow") ----------------------------------

std::string ResourceHost::GrowRecordPath(uint16_t vnr) const {
  return state_dir_ + "/" + spec_.name + "-" + std::to_string(vnr) + ".grow";
}

void ResourceHost::Grow(uint16_t vnr, uint64_t usable_bytes, bool preallocate,
                        AdminCallback done) {
  Volume* v = FindVolume(vnr);
  std::string what = spec_.name + "/" + std::to_string(vnr);
  if (!v || !v->data) return done(Done(SsCode::kNoLocalDisk, what + " has no local disk here"));
  if (!v->spec.internal_md() || v->data->is_block_device() || state_dir_.empty()) {
    return done(Done(SsCode::kNotSupported,
                     what + ": online grow needs a backing file with internal metadata"));
  }
  if (v->growing) return done(Done(SsCode::kInTransientState, what + " is growing already"));
  bool attached = false;
  for (const engine::VolumeStatus& vs : Status().volumes) {
    if (vs.vnr.value() == vnr) {
      attached = vs.disk != engine::DiskState::kDiskless && vs.disk != engine::DiskState::kFailed;
    }
  }
  if (!attached) return done(Done(SsCode::kNoLocalDisk, what + " is not attached"));
  const uint64_t old = v->data->size();
  Result<uint64_t> want = engine::GrowBackingBytes(old, usable_bytes, v->md.max_peers,
                                                   engine::kAlDefaultRingSlots, true);
  if (!want.ok()) return done(Done(SsCode::kInvalidArgument, what + ": " + want.error().message));
  if (*want == old) return done(Done(SsCode::kNothingToDo, what + " offers that size already"));
  Result<engine::MdLayout> l =
      engine::ComputeLayout(*want, v->md.max_peers, engine::kAlDefaultRingSlots, true);
  if (!l.ok()) return done(Done(SsCode::kInvalidArgument, what + ": " + l.error().message));
  // The record first: a crash from here on is settled at the next attach.
  const std::string record = GrowRecordPath(vnr);
  if (auto r = io::WriteFileAtomic(record, std::to_string(old) + "\n"); !r.ok()) {
    return done(Done(SsCode::kNoLocalDisk, r.error().message));
  }
  if (auto r = v->data->Resize(*want, preallocate); !r.ok()) {
    (void)v->data->Resize(old, false);
    (void)io::RemoveFileDurably(record);
    return done(Done(SsCode::kNoLocalDisk, r.error().message));
  }
  v->next_md = MdLocation{l->usable_bytes, l->md_bytes, v->md.max_peers};
  v->growing = true;
  uint64_t bytes = *want;
  Admin([vnr, bytes](engine::Resource& r, uint64_t c) { r.Grow(c, VolumeNr(vnr), bytes); },
        [v, old, record, done](const AdminDone& d) {
          // Runs before the engine's next action: those address the new area.
          v->growing = false;
          if (d.code == SsCode::kSuccess) {
            v->md = v->next_md;
          } else if (d.code == SsCode::kTimeout) {
            return done(d);  // shutting down: the next attach settles it
          } else {
            (void)v->data->Resize(old, false);
          }
          (void)io::RemoveFileDurably(record);
          done(d);
        });
}

Result<bool> ResourceHost::SettleGrow(Volume* v) {
  if (state_dir_.empty() || !v->spec.internal_md()) return true;
  const std::string record = GrowRecordPath(v->vnr);
  std::ifstream in(record);
  if (!in) return true;
  uint64_t old = 0;
  in >> old;
  if (!in || old == 0 || old > v->data->size()) {
    return Error{Errc::kCorrupt, record + ": not a grow record of " + v->data->path() +
                                     " (remove it after checking the file's size)"};
  }
  if (old != v->data->size() &&
      !LocateMetadata(spec_, v->spec, v->data.get(), v->meta.get()).ok()) {
    // The new superblock never became durable: the old area is still valid.
    if (auto r = v->data->Resize(old, false); !r.ok()) return r;
    Logf(LogLevel::kWarn, "{}: interrupted grow undone, {} back to {} bytes", spec_.name,
         v->data->path(), old);
  }
  return io::RemoveFileDurably(record);
}

void ResourceHost::Detach(int vnr, AdminCallback done) {
  std::vector<uint16_t> targets;
  for (auto& v : volumes_) {
    if (v->data && (vnr < 0 || v->vnr == vnr)) targets.push_back(v->vnr);
  }
  if (targets.empty()) return done(Done(SsCode::kNothingToDo, "no volume with a local disk"));
  auto g = std::make_shared<Gather>();
  g->remaining = static_cast<int>(targets.size());
  g->done = std::move(done);
  for (uint16_t n : targets) {
    Admin([n](engine::Resource& r, uint64_t c) { r.Detach(c, VolumeNr(n)); },
          [g](const AdminDone& d) { g->One(d); });
  }
}

void ResourceHost::Up(AdminCallback done) {
  auto connect = [this, done](const AdminDone& d) {
    if (!d.ok()) return done(d);
    Admin([](engine::Resource& r, uint64_t c) { r.ConnectAll(c); }, done);
  };
  bool any_disk = false;
  for (auto& v : volumes_) any_disk = any_disk || v->data;
  if (!any_disk) return connect(Done(SsCode::kSuccess));
  Attach(-1, connect);
}

void ResourceHost::Down(AdminCallback done) {
  Admin([](engine::Resource& r, uint64_t c) { r.Down(c); }, std::move(done));
}

void ResourceHost::Adjust(const ResourceSpec& s, AdminCallback done) {
  const NodeSpec* me = s.self();
  if (s.node_id != spec_.node_id || !me) {
    return done(Done(SsCode::kNotSupported,
                     "this node's id in " + spec_.name + " changed: this needs down and up"));
  }
  if (me->address != spec_.self()->address || me->diskless != spec_.self()->diskless) {
    return done(Done(SsCode::kNotSupported, "this node's address or disk in " + spec_.name +
                                                " changed: this needs down and up"));
  }
  if (s.volumes != spec_.volumes) {
    return done(Done(SsCode::kNotSupported,
                     "the volumes of " + spec_.name + " changed: this needs down and up"));
  }
  if (s.shared_secret != spec_.shared_secret) {
    return done(Done(SsCode::kNotSupported, "the shared secret changed: this needs down and up"));
  }
  if (s.nodes == spec_.nodes) return AdjustOptions(s, std::move(done));
  // A changed node set: peers join and leave without disturbing I/O.
  Result<std::vector<io::TransportPeer>> peers = PeersOf(s);
  if (!peers.ok()) return done(Done(SsCode::kInvalidArgument, peers.error().message));
  std::vector<engine::NodeConfig> nodes = s.ToEngineConfig().nodes;
  Admin([nodes](engine::Resource& r, uint64_t c) { r.Reconfigure(c, nodes); },
        [this, s, peers = std::move(peers).value(), done](const AdminDone& d) {
          if (!d.ok()) return done(d);
          for (const io::TransportPeer& p : peers) transport_->SetPeer(p);
          spec_.nodes = s.nodes;
          AdjustOptions(s, done);
        });
}

void ResourceHost::AdjustOptions(const ResourceSpec& s, AdminCallback done) {
  engine::Options opts = s.options;
  spec_.options = opts;
  Admin([opts](engine::Resource& r, uint64_t c) { r.SetOptions(c, opts); },
        [this, done](const AdminDone& d) {
          if (!d.ok()) return done(d);
          // Attach what is detached, connect what is StandAlone.
          engine::ResourceStatus st = Status();
          bool need_attach = false;
          for (const engine::VolumeStatus& v : st.volumes) {
            Volume* vol = FindVolume(v.vnr.value());
            if (vol && vol->data && v.disk == engine::DiskState::kDiskless) need_attach = true;
          }
          auto connect = [this, done](const AdminDone& a) {
            if (!a.ok() && a.code != SsCode::kNothingToDo) return done(a);
            Admin(
                [](engine::Resource& r, uint64_t c) { r.ConnectAll(c); },
                [done](const AdminDone& c) {
                  done(c.ok() || c.code == SsCode::kAlreadyStandAlone ? Done(SsCode::kSuccess) : c);
                });
          };
          if (need_attach) return Attach(-1, connect);
          connect(Done(SsCode::kSuccess));
        });
}

// --- frontends --------------------------------------------------------------------

void ResourceHost::AcquireWriter(std::function<void(OpenResult)> cb) {
  if (closed_) return cb(OpenResult{EIO, spec_.name + " is shutting down"});
  promote_waiters_.push_back(std::move(cb));
  if (promoting_) return;
  promoting_ = true;
  Admin([](engine::Resource& r, uint64_t c) { r.OpenForWrite(c); },
        [this](const AdminDone& d) {
          promoting_ = false;
          auto waiters = std::move(promote_waiters_);
          promote_waiters_.clear();
          if (!d.ok()) {
            std::string msg = d.message.empty() ? engine::SsCodeMessage(d.code) : d.message;
            for (auto& w : waiters) w(OpenResult{EROFS, msg});
            return;
          }
          // The first waiter holds the open that promoted; the others open
          // on a Primary, which succeeds at once.
          waiters.front()(OpenResult{});
          for (size_t i = 1; i < waiters.size(); ++i) {
            auto w = std::move(waiters[i]);
            Admin([](engine::Resource& r, uint64_t c) { r.OpenForWrite(c); },
                  [w](const AdminDone& d2) {
                    w(d2.ok() ? OpenResult{} : OpenResult{EROFS, d2.message});
                  });
          }
        });
}

void ResourceHost::ReleaseWriter() {
  Dispatch([](engine::Resource& r) { r.CloseWriter(); });
}

void ResourceHost::SubmitApp(uint16_t vnr, BlockRequest req, std::function<void(BlockResult)> cb) {
  if (closed_) return cb(BlockResult{EIO, nullptr});
  engine::AppRequest r;
  r.id = next_req_++;
  r.vnr = VolumeNr(vnr);
  switch (req.op) {
    case BlockOp::kRead:
      r.op = engine::AppOp::kRead;
      break;
    case BlockOp::kWrite:
      r.op = engine::AppOp::kWrite;
      break;
    case BlockOp::kFlush:
      r.op = engine::AppOp::kFlush;
      break;
    case BlockOp::kTrim:
      r.op = engine::AppOp::kTrim;
      break;
    case BlockOp::kWriteZeroes:
      r.op = engine::AppOp::kWriteZeroes;
      break;
  }
  r.offset = req.offset;
  r.length = req.length;
  r.fua = req.fua;
  r.data = std::move(req.data);
  app_[r.id] = std::move(cb);
  Dispatch([&](engine::Resource& e) { e.Submit(r); });
}

// --- status -------------------------------------------------------------------------

json::object ResourceHost::StatusJson() const {
  engine::ResourceStatus st = Status();
  json::object o;
  o["name"] = st.name;
  o["node_id"] = st.self.value();
  const NodeSpec* me = spec_.self();
  o["node_name"] = me ? me->name : "";
  o["role"] = engine::RoleName(st.role);
  o["suspended"] = st.suspended;
  o["quorum"] = st.quorum;
  o["may_promote"] = st.may_promote;
  json::array vols;
  for (const engine::VolumeStatus& v : st.volumes) {
    vols.push_back(json::object{{"volume", v.vnr.value()},
                                {"disk", engine::DiskStateName(v.disk)},
                                {"size", v.size_bytes},
                                {"quorum", v.quorum},
                                {"current_uuid", v.current_uuid}});
  }
  o["volumes"] = std::move(vols);
  json::array conns;
  for (const engine::ConnectionStatus& c : st.connections) {
    json::object co{{"peer_node_id", c.peer.value()},
                    {"name", c.name},
                    {"connection", engine::ConnStateName(c.conn)},
                    {"role", engine::RoleName(c.peer_role)}};
    json::array pds;
    for (const engine::PeerDeviceStatus& pd : c.volumes) {
      pds.push_back(json::object{{"volume", pd.vnr.value()},
                                 {"replication", engine::ReplStateName(pd.repl)},
                                 {"peer_disk", engine::DiskStateName(pd.peer_disk)},
                                 {"out_of_sync", pd.out_of_sync_bytes},
                                 {"resync_total", pd.resync_total_bytes},
                                 {"resynced", pd.resynced_bytes},
                                 {"done", pd.done_percent}});
    }
    co["volumes"] = std::move(pds);
    conns.push_back(std::move(co));
  }
  o["connections"] = std::move(conns);
  return o;
}

json::object ResourceHost::StatsJson() const {
  json::object o;
  o["name"] = spec_.name;
  const io::TransportStats& t = transport_->stats();
  o["transport"] = json::object{{"messages_sent", t.messages_sent},
                                {"messages_received", t.messages_received},
                                {"bytes_sent", t.bytes_sent},
                                {"bytes_received", t.bytes_received},
                                {"handshakes_failed", t.handshakes_failed}};
  json::array vols;
  for (const auto& v : volumes_) {
    vols.push_back(json::object{{"volume", v->vnr},
                                {"reads", v->stats.reads},
                                {"writes", v->stats.writes},
                                {"flushes", v->stats.flushes},
                                {"bytes_read", v->stats.bytes_read},
                                {"bytes_written", v->stats.bytes_written},
                                {"md_writes", v->stats.md_writes},
                                {"md_bytes_written", v->stats.md_bytes_written}});
  }
  o["disks"] = std::move(vols);
  return o;
}

std::vector<std::string> ResourceHost::ExistsLines() const {
  engine::ResourceStatus st = Status();
  std::vector<std::string> out;
  std::string n = "name:" + st.name;
  out.push_back("exists resource " + n + " role:" + engine::RoleName(st.role) +
                " suspended:" + (st.suspended ? "yes" : "no"));
  for (const engine::VolumeStatus& v : st.volumes) {
    out.push_back("exists device " + n + " volume:" + std::to_string(v.vnr.value()) +
                  " disk:" + engine::DiskStateName(v.disk) +
                  " quorum:" + (v.quorum ? "yes" : "no") + " size:" + std::to_string(v.size_bytes));
  }
  for (const engine::ConnectionStatus& c : st.connections) {
    std::string p = " peer-node-id:" + std::to_string(c.peer.value());
    out.push_back("exists connection " + n + p + " conn-name:" + c.name + " connection:" +
                  engine::ConnStateName(c.conn) + " role:" + engine::RoleName(c.peer_role));
    for (const engine::PeerDeviceStatus& pd : c.volumes) {
      out.push_back("exists peer-device " + n + p + " volume:" + std::to_string(pd.vnr.value()) +
                    " replication:" + engine::ReplStateName(pd.repl) +
                    " peer-disk:" + engine::DiskStateName(pd.peer_disk) +
                    " out-of-sync:" + std::to_string(pd.out_of_sync_bytes / 1024));
    }
  }
  return out;
}

// --- fault hooks ----------------------------------------------------------------------

Result<bool> ResourceHost::Fault(const json::object& req) {
  auto str = [&](const char* k) -> std::string {
    const json::value* v = req.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  auto num = [&](const char* k, int64_t def) -> int64_t {
    const json::value* v = req.if_contains(k);
    return v && v->is_int64() ? v->as_int64() : def;
  };
  std::string kind = str("kind");
  if (kind == "clear") {
    transport_->ClearSendFaults();
    for (auto& v : volumes_) {
      v->faults = DiskFaults{};
      auto held = std::move(v->held);
      for (auto& h : held) h();
    }
    return true;
  }
  if (kind == "drop-msg" || kind == "delay-msg") {
    std::string name = str("msg");
    int type = -1;
    for (int t = 0; t < 256; ++t) {
      if (name == engine::MsgTypeName(static_cast<engine::MsgType>(t))) type = t;
    }
    if (type < 0) return Error{Errc::kInvalidArgument, "unknown message type '" + name + "'"};
    int64_t peer = num("peer", 255);
    transport_->SetSendFault(static_cast<engine::MsgType>(type), static_cast<uint8_t>(peer),
                             kind == "drop-msg" ? io::SendFault::kDrop : io::SendFault::kDelay,
                             std::chrono::milliseconds(num("delay_ms", 0)));
    return true;
  }
  Volume* v = FindVolume(static_cast<uint16_t>(num("volume", 0)));
  if (!v || !v->data) return Error{Errc::kInvalidArgument, "no such volume with a local disk"};
  if (kind == "fail-io") {
    std::string op = str("op");
    int count = static_cast<int>(num("count", -1));
    if (op == "read")
      v->faults.fail_reads = count;
    else if (op == "write")
      v->faults.fail_writes = count;
    else if (op == "flush")
      v->faults.fail_flushes = count;
    else
      return Error{Errc::kInvalidArgument, "op must be read, write or flush"};
    return true;
  }
  if (kind == "freeze-disk") {
    v->faults.frozen = true;
    return true;
  }
  if (kind == "thaw-disk") {
    v->faults.frozen = false;
    auto held = std::move(v->held);
    for (auto& h : held) h();
    return true;
  }
  return Error{Errc::kInvalidArgument, "unknown fault kind '" + kind + "'"};
}

}  // namespace tandem::tandemd
