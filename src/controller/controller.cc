#include "controller/controller.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "controller/codec.h"

namespace tandem::controller {

std::string DatabasePath(const std::string& root) {
  return (std::filesystem::path(root) / "var/lib/tandem/controller.db").string();
}

namespace {

Result<std::unique_ptr<Store>> OpenStore(const std::string& root) {
  std::error_code ec;
  std::filesystem::path db = DatabasePath(root);
  std::filesystem::create_directories(db.parent_path(), ec);
  if (ec)
    return MakeError(Errc::kIoError,
                     "cannot create " + db.parent_path().string() + ": " + ec.message());
  return Store::Open(db.string());
}

}  // namespace

Status Controller::Start() {
  auto store = OpenStore(options_.root);
  if (!store.ok()) return store.error();
  store_ = std::move(*store);
  TANDEM_TRY(LoadCluster(*store_, &cluster_));
  service_ = std::make_unique<Service>(&cluster_, store_.get());
  TANDEM_TRY(service_->Bootstrap());
  api_ = std::make_unique<RestApi>(service_.get(), store_.get());
  server_ = std::make_unique<HttpServer>([this](const HttpRequest& r) { return api_->Handle(r); });
  auto port = server_->Start(options_.listen_address, options_.listen_port);
  if (!port.ok()) return port.error();
  port_ = *port;
  return {};
}

void Controller::Run() { server_->Run(); }
void Controller::Stop() { server_->Stop(); }

Status ExportDatabase(const std::string& root, const std::string& file) {
  auto store = OpenStore(root);
  if (!store.ok()) return store.error();
  auto doc = ExportDb(**store);
  if (!doc.ok()) return doc.error();
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << *doc << "\n";
  out.close();
  if (!out) return MakeError(Errc::kIoError, "cannot write " + file);
  return {};
}

Status ImportDatabase(const std::string& root, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return MakeError(Errc::kNotFound, "cannot read " + file);
  std::stringstream text;
  text << in.rdbuf();
  auto store = OpenStore(root);
  if (!store.ok()) return store.error();
  return ImportDb(**store, text.str());
}

}  // namespace tandem::controller
