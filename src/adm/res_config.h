// The model of DRBD-style `.res` resource files and the functions that load,
// look up and print them. This header is the contract of src/adm; the syntax
// and every supported option are described in docs/res-format.md.
//
// Loading is pure: ParseResString() turns text into a validated ResFile and
// never touches the file system; ParseResFile() and ParseResDir() read files
// and then call it. Every error message has the form "file:line: message".
//
// Thread safety: all functions are reentrant; the structs are plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/result.h"
#include "engine/types.h"

namespace tandem::adm {

// Where something was defined, for error messages. Never part of equality.
struct SourceLocation {
  std::string file;
  int line = 0;
};

// A `key value...;` statement kept as written (startup options, handlers,
// DRBD options Tandem accepts but does not act on, connection settings).
struct Setting {
  std::string key;
  std::vector<std::string> values;
  bool operator==(const Setting&) const = default;
};

// `device /dev/drbd0;`, `device minor 0;` or `device /dev/drbd0 minor 0;`.
struct Device {
  std::string path;  // empty when only a minor was given
  int minor = -1;    // -1 when not given
  bool Empty() const { return path.empty() && minor < 0; }
  // The block device path: `path`, or /dev/drbd<minor> when only a minor was given.
  std::string EffectivePath() const;
  // The minor: `minor`, or N of a path /dev/drbdN; -1 when neither says.
  int EffectiveMinor() const;
  bool operator==(const Device&) const = default;
};

// `meta-disk internal;` or `meta-disk /path;` (external metadata).
struct MetaDisk {
  bool internal = true;
  std::string path;  // set iff !internal
  bool operator==(const MetaDisk&) const = default;
};

// One volume, either as a resource-level default or resolved for one host.
struct VolumeConfig {
  VolumeNr vnr{0};
  Device device;     // Empty() when not given (only legal at resource level)
  std::string disk;  // backing device path, "none" for diskless, "" = not given
  MetaDisk meta_disk;
  bool meta_disk_given = false;  // false => internal by default
  bool operator==(const VolumeConfig&) const = default;
};

// `address [ipv4|ipv6] HOST:PORT;` IPv6 hosts are written in brackets.
struct Address {
  std::string family = "ipv4";
  std::string host;  // without brackets
  uint16_t port = 0;
  bool Empty() const { return host.empty(); }
  std::string ToString() const;  // "10.0.0.1:7789", "ipv6 [fd00::1]:7789"
  bool operator==(const Address&) const = default;
};

// One `on HOST { ... }` section after resolution.
// Invariant (after a successful parse): `volumes` has one entry per resource
// volume, in ascending vnr, each with a device and a disk.
struct HostConfig {
  std::string name;
  NodeId node_id{0};
  bool node_id_given = false;  // false => assigned in order of appearance
  Address address;
  std::vector<VolumeConfig> volumes;
  SourceLocation where;
  bool operator==(const HostConfig& o) const;
};

// A `host NAME [address ...];` entry of a `connection` section.
struct ConnectionHost {
  std::string name;
  // Empty() when the `on` section's address is used; then a non-zero port
  // (`host b port 7002;`) replaces only the port.
  Address address;
  bool operator==(const ConnectionHost&) const = default;
};

// `connection { host a ...; host b ...; net { ... } }`. Tandem parses and
// checks these but the engine options are per resource: the net settings are
// validated against the net option table and kept as written.
struct ConnectionConfig {
  std::vector<ConnectionHost> hosts;
  std::vector<Setting> net;
  bool operator==(const ConnectionConfig&) const = default;
};

struct ResResource {
  std::string name;
  std::vector<HostConfig> hosts;      // in order of appearance
  std::vector<VolumeConfig> volumes;  // resource-level values, ascending vnr
  engine::Options options;            // common merged with the resource's own
  bool md_flushes = true;             // the engine has no knob for it yet
  std::string verify_alg;             // as written; non-empty => options.verify_alg
  std::string csums_alg;              // as written; non-empty => options.csums
  std::string cram_hmac_alg;          // e.g. "sha256"; empty = no authentication
  std::string shared_secret;          // empty = none
  std::vector<Setting> startup;       // become-primary-on, wfc-timeout, ...
  std::vector<Setting> handlers;      // handler name -> command string
  // DRBD options Tandem accepts without effect; key is "section.option".
  std::vector<Setting> ignored;
  std::vector<std::string> mesh_hosts;  // connection-mesh hosts; empty = none
  std::vector<ConnectionConfig> connections;
  SourceLocation where;

  // Field-by-field equality, ignoring `where` (so parse(render(x)) == x).
  bool operator==(const ResResource& o) const;
};

struct ResFile {
  std::vector<ResResource> resources;  // in order of appearance
  std::vector<Setting> global;         // the `global` section, kept as written
  bool operator==(const ResFile&) const = default;
};

// Parses `text`; `file_name` is used in messages only.
// Errors: kInvalidArgument ("file:line: ...") for every syntax or semantic
// problem: unknown keyword or option, bad value, duplicate host/node id/volume/
// resource, missing address/device/disk, unknown mesh host, engine::Options
// that fail Validate().
Result<ResFile> ParseResString(std::string_view text, std::string_view file_name);

// Reads and parses one file. kNotFound when it does not exist, kIoError when
// it is not a regular file or cannot be read.
Result<ResFile> ParseResFile(const std::string& path);

// Parses every `*.res` file of `dir` (sorted by name) into one ResFile.
// kNotFound when the directory cannot be listed.
// A resource defined in two files is an error naming both places. Global
// sections of all files are concatenated.
Result<ResFile> ParseResDir(const std::string& dir);

// The `on` section for `host_name` (a `--node` override or the machine's
// hostname). Matches, case-insensitively: the exact name; else the short
// names (before the first dot) of both sides. kNotFound names the resource
// and lists its hosts; kInvalidArgument when a short name matches several.
// Messages start with the resource's "file:line: " when it has a location.
Result<const HostConfig*> FindHost(const ResResource& res, std::string_view host_name);

// The resource called `name`, or kNotFound listing the resources of `file`.
Result<const ResResource*> FindResource(const ResFile& file, std::string_view name);

// Prints one resource in canonical .res syntax (sections in a fixed order,
// only options that differ from their defaults, resolved per-host volumes).
// REQUIRES: `res` came from a successful parse or obeys the same invariants.
// Guarantee: ParseResString(RenderResource(res), f) yields a resource == res.
std::string RenderResource(const ResResource& res);
// Prints a whole file: the global section, then every resource.
std::string RenderResFile(const ResFile& file);

// Unit helpers, exposed for tests and tandemadm.
// A DRBD rate/size "1000M": plain numbers are KiB; K/M/G suffixes are
// KiB/MiB/GiB (case-insensitive). Result in KiB. Errors on overflow of u32.
Result<uint32_t> ParseKib(std::string_view text);
// The shortest exact form of a KiB count: 1024000 -> "1000M", 250 -> "250".
std::string FormatKib(uint32_t kib);

}  // namespace tandem::adm
