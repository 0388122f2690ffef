#include "adm/internal/res_options.h"

#include <cctype>
#include <cstdint>
#include <string>

namespace tandem::adm::internal {
namespace {

using engine::kMs;
using engine::kSec;
using engine::Time;
using Args = std::vector<Word>;

constexpr uint32_t kMaxRateKib = 4u * 1024 * 1024;  // 4 GiB/s, DRBD's upper bound

template <class E>
struct EnumName {
  const char* name;
  E value;
};

constexpr EnumName<engine::AfterSb0> kAfterSb0[] = {
    {"disconnect", engine::AfterSb0::kDisconnect},
    {"discard-younger-primary", engine::AfterSb0::kDiscardYoungerPrimary},
    {"discard-older-primary", engine::AfterSb0::kDiscardOlderPrimary},
    {"discard-zero-changes", engine::AfterSb0::kDiscardZeroChanges},
    {"discard-least-changes", engine::AfterSb0::kDiscardLeastChanges},
};
constexpr EnumName<engine::AfterSb1> kAfterSb1[] = {
    {"disconnect", engine::AfterSb1::kDisconnect},
    {"consensus", engine::AfterSb1::kConsensus},
    {"discard-secondary", engine::AfterSb1::kDiscardSecondary},
    {"call-pri-lost-after-sb", engine::AfterSb1::kCallPriLostAfterSb},
    {"violently-as0p", engine::AfterSb1::kViolentlyAs0p},
};
constexpr EnumName<engine::AfterSb2> kAfterSb2[] = {
    {"disconnect", engine::AfterSb2::kDisconnect},
    {"violently-as0p", engine::AfterSb2::kViolentlyAs0p},
    {"call-pri-lost-after-sb", engine::AfterSb2::kCallPriLostAfterSb},
};
constexpr EnumName<engine::RrConflict> kRrConflict[] = {
    {"disconnect", engine::RrConflict::kDisconnect},
    {"retry-connect", engine::RrConflict::kRetryConnect},
};
constexpr EnumName<engine::OnNoQuorum> kOnNoQuorum[] = {
    {"io-error", engine::OnNoQuorum::kIoError},
    {"suspend-io", engine::OnNoQuorum::kSuspendIo},
};

template <class E, size_t N>
const char* NameOf(const EnumName<E> (&table)[N], E v) {
  for (const auto& e : table) {
    if (e.value == v) return e.name;
  }
  return "?";
}

std::string Quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string OneValue(std::string_view name, const Args& a, std::string* out) {
  if (a.size() != 1) return "option " + Quoted(name) + " takes exactly one value";
  *out = a[0].text;
  return "";
}

// Strict decimal: digits only, at most 18 of them.
bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

std::string Range(std::string_view name, uint64_t lo, uint64_t hi, const char* unit,
                  std::string_view got) {
  return Quoted(name) + " must be " + std::to_string(lo) + ".." + std::to_string(hi) + unit +
         ", got " + Quoted(got);
}

std::string Integer(std::string_view name, const Args& a, uint64_t lo, uint64_t hi,
                    const char* unit, uint64_t* out) {
  std::string text;
  if (auto e = OneValue(name, a, &text); !e.empty()) return e;
  uint64_t v = 0;
  if (!ParseDecimal(text, &v) || v < lo || v > hi) return Range(name, lo, hi, unit, text);
  *out = v;
  return "";
}

std::string U32(std::string_view name, const Args& a, uint64_t lo, uint64_t hi, uint32_t* out) {
  uint64_t v = 0;
  if (auto e = Integer(name, a, lo, hi, "", &v); !e.empty()) return e;
  *out = static_cast<uint32_t>(v);
  return "";
}

// DRBD's 0.1 s unit.
std::string Tenths(std::string_view name, const Args& a, uint64_t lo, uint64_t hi, Time* out) {
  uint64_t v = 0;
  if (auto e = Integer(name, a, lo, hi, " (unit 0.1 s)", &v); !e.empty()) return e;
  *out = static_cast<Time>(v) * 100 * kMs;
  return "";
}

std::string Seconds(std::string_view name, const Args& a, uint64_t lo, uint64_t hi, Time* out) {
  uint64_t v = 0;
  if (auto e = Integer(name, a, lo, hi, " (unit 1 s)", &v); !e.empty()) return e;
  *out = static_cast<Time>(v) * kSec;
  return "";
}

// A flag: no value means yes.
std::string Bool(std::string_view name, const Args& a, bool* out) {
  if (a.empty()) {
    *out = true;
    return "";
  }
  if (a.size() == 1 && a[0].text == "yes") {
    *out = true;
    return "";
  }
  if (a.size() == 1 && a[0].text == "no") {
    *out = false;
    return "";
  }
  return "option " + Quoted(name) + " expects yes or no";
}

std::string Rate(std::string_view name, const Args& a, uint32_t lo, uint32_t* out) {
  std::string text;
  if (auto e = OneValue(name, a, &text); !e.empty()) return e;
  auto kib = ParseKib(text);
  if (!kib.ok() || *kib < lo || *kib > kMaxRateKib) {
    return Quoted(name) + " must be " + std::to_string(lo) +
           "..4G (KiB/s; suffixes K, M, G), got " + Quoted(text);
  }
  *out = *kib;
  return "";
}

// c-fill-target: a plain number is 512-byte sectors; with a suffix it is a size.
std::string FillTarget(std::string_view name, const Args& a, uint32_t* out) {
  std::string text;
  if (auto e = OneValue(name, a, &text); !e.empty()) return e;
  constexpr uint64_t kMaxSectors = 1'048'576;  // 512 MiB
  uint64_t sectors = 0;
  bool ok = false;
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text.back()))) {
    ok = ParseDecimal(text, &sectors);
  } else if (auto kib = ParseKib(text); kib.ok()) {
    sectors = uint64_t{*kib} * 2;
    ok = true;
  }
  if (!ok || sectors > kMaxSectors) {
    return Quoted(name) + " must be 0..1048576 sectors (or a size up to 512M), got " + Quoted(text);
  }
  *out = static_cast<uint32_t>(sectors);
  return "";
}

template <class E, size_t N>
std::string Enum(std::string_view name, const Args& a, const EnumName<E> (&table)[N], E* out) {
  std::string text;
  if (auto e = OneValue(name, a, &text); !e.empty()) return e;
  std::string expected;
  for (const auto& e : table) {
    if (text == e.name) {
      *out = e.value;
      return "";
    }
    expected += expected.empty() ? "" : ", ";
    expected += e.name;
  }
  return "invalid value " + Quoted(text) + " for " + Quoted(name) + " (expected " + expected + ")";
}

std::string Quorum(std::string_view name, const Args& a, int* out) {
  std::string text;
  if (auto e = OneValue(name, a, &text); !e.empty()) return e;
  uint64_t n = 0;
  if (text == "off") {
    *out = engine::kQuorumOff;
  } else if (text == "majority") {
    *out = engine::kQuorumMajority;
  } else if (text == "all") {
    *out = engine::kQuorumAll;
  } else if (ParseDecimal(text, &n) && n >= 1 && n <= static_cast<uint64_t>(kMaxNodes)) {
    *out = static_cast<int>(n);
  } else {
    return "invalid value " + Quoted(text) + " for " + Quoted(name) +
           " (expected off, majority, all or 1..32)";
  }
  return "";
}

std::string String(std::string_view name, const Args& a, std::string* out) {
  std::string text;
  if (auto e = OneValue(name, a, &text); !e.empty()) return e;
  // Empty values never get here: the parser rejects them for every option.
  *out = text;
  return "";
}

std::string Protocol(ResResource& r, std::string_view name, const Args& a) {
  std::string text;
  if (auto e = OneValue(name, a, &text); !e.empty()) return e;
  if (text == "A") {
    r.options.protocol = engine::WireProtocol::kA;
  } else if (text == "C") {
    r.options.protocol = engine::WireProtocol::kC;
  } else if (text == "B") {
    return "protocol B is not supported by Tandem (use A or C)";
  } else {
    return "invalid value " + Quoted(text) + " for 'protocol' (expected A or C)";
  }
  return "";
}

constexpr unsigned kNet = kNetSection;
constexpr unsigned kDisk = kDiskSection;
constexpr unsigned kOpts = kOptionsSection;
constexpr unsigned kSyncer = kSyncerSection;

#define APPLY [](ResResource & r, std::string_view n, const Args& a) -> std::string

const std::vector<OptionDef>& Table() {
  static const std::vector<OptionDef> table = {
      // resource options
      {"auto-promote", kOpts, APPLY{return Bool(n, a, &r.options.auto_promote);
}
}  // namespace
, {"auto-promote-timeout", kOpts,
   APPLY{return Tenths(n, a, 0, 600, &r.options.auto_promote_timeout);
}  // namespace tandem::adm::internal
}
, {"quorum", kOpts, APPLY{return Quorum(n, a, &r.options.quorum);
}
}
, {"quorum-minimum-redundancy", kOpts,
   APPLY{return Quorum(n, a, &r.options.quorum_minimum_redundancy);
}
}
, {"on-no-quorum", kOpts, APPLY{return Enum(n, a, kOnNoQuorum, &r.options.on_no_quorum);
}
}
, {"twopc-timeout", kOpts, APPLY{return Tenths(n, a, 50, 600, &r.options.twopc_timeout);
}
}
, {"twopc-retry-timeout", kOpts, APPLY{return Tenths(n, a, 1, 50, &r.options.twopc_retry_timeout);
}
}
, {"cpu-mask", kOpts | kSyncer, nullptr}, {"on-no-data-accessible", kOpts | kSyncer, nullptr},
    {"on-suspended-primary-outdated", kOpts, nullptr}, {"max-io-depth", kOpts, nullptr},
    {"peer-ack-window", kOpts, nullptr}, {"peer-ack-delay", kOpts, nullptr},
    // net
    {"protocol", kNet | kResourceLevel, Protocol},
    {"allow-two-primaries", kNet, APPLY{return Bool(n, a, &r.options.allow_two_primaries);
}
}
, {"after-sb-0pri", kNet, APPLY{return Enum(n, a, kAfterSb0, &r.options.after_sb_0pri);
}
}
, {"after-sb-1pri", kNet, APPLY{return Enum(n, a, kAfterSb1, &r.options.after_sb_1pri);
}
}
, {"after-sb-2pri", kNet, APPLY{return Enum(n, a, kAfterSb2, &r.options.after_sb_2pri);
}
}
, {"always-asbp", kNet, APPLY{return Bool(n, a, &r.options.always_asbp);
}
}
, {"rr-conflict", kNet, APPLY{return Enum(n, a, kRrConflict, &r.options.rr_conflict);
}
}
, {"max-epoch-size", kNet, APPLY{return U32(n, a, 1, 20000, &r.options.max_epoch_size);
}
}
, {"timeout", kNet, APPLY{return Tenths(n, a, 1, 600, &r.options.timeout);
}
}
, {"ping-int", kNet, APPLY{return Seconds(n, a, 1, 120, &r.options.ping_int);
}
}
, {"ping-timeout", kNet, APPLY{return Tenths(n, a, 1, 300, &r.options.ping_timeout);
}
}
, {"ko-count", kNet, APPLY{return U32(n, a, 0, 200, &r.options.ko_count);
}
}
, {"connect-int", kNet, APPLY{return Seconds(n, a, 1, 120, &r.options.connect_int);
}
}
, {"max-buffers", kNet, APPLY{return U32(n, a, 32, 131072, &r.options.max_buffers);
}
}
, {"shared-secret", kNet, APPLY{return String(n, a, &r.shared_secret);
}
}
, {"cram-hmac-alg", kNet, APPLY{return String(n, a, &r.cram_hmac_alg);
}
}
, {"verify-alg", kNet | kSyncer, APPLY{auto e = String(n, a, &r.verify_alg);
if (e.empty()) r.options.verify_alg = true;
return e;
}
}
, {"csums-alg", kNet | kSyncer, APPLY{auto e = String(n, a, &r.csums_alg);
if (e.empty()) r.options.csums = true;
return e;
}
}
, {"sndbuf-size", kNet, nullptr}, {"rcvbuf-size", kNet, nullptr},
    {"data-integrity-alg", kNet, nullptr}, {"fencing", kNet | kDisk, nullptr},
    {"tcp-cork", kNet, nullptr}, {"use-rle", kNet | kSyncer, nullptr},
    {"on-congestion", kNet, nullptr}, {"congestion-fill", kNet, nullptr},
    {"congestion-extents", kNet, nullptr}, {"csums-after-crash-only", kNet, nullptr},
    {"socket-check-timeout", kNet, nullptr}, {"transport", kNet, nullptr},
    // disk
    {"al-extents", kDisk | kSyncer, APPLY{return U32(n, a, 7, 65536, &r.options.al_extents);
}
}
, {"disk-flushes", kDisk, APPLY{return Bool(n, a, &r.options.disk_flushes);
}
}
, {"md-flushes", kDisk, APPLY{return Bool(n, a, &r.md_flushes);
}
}
, {"no-disk-flushes", kDisk, APPLY{if (!a.empty()) return "option " + Quoted(n) + " takes no value";
r.options.disk_flushes = false;
return "";
}
}
, {"no-md-flushes", kDisk, APPLY{if (!a.empty()) return "option " + Quoted(n) + " takes no value";
r.md_flushes = false;
return "";
}
}
, {"disk-timeout", kDisk, APPLY{return Tenths(n, a, 0, 6000, &r.options.disk_timeout);
}
}
, {"resync-rate", kDisk | kSyncer, APPLY{return Rate(n, a, 1, &r.options.resync_rate_kib);
}
}
, {"rate", kSyncer, APPLY{return Rate(n, a, 1, &r.options.resync_rate_kib);
}
}
, {"c-plan-ahead", kDisk | kSyncer, APPLY{return U32(n, a, 0, 300, &r.options.c_plan_ahead);
}
}
, {"c-fill-target", kDisk | kSyncer,
   APPLY{return FillTarget(n, a, &r.options.c_fill_target_sectors);
}
}
, {"c-delay-target", kDisk | kSyncer, APPLY{return U32(n, a, 1, 100, &r.options.c_delay_target);
}
}
, {"c-max-rate", kDisk | kSyncer, APPLY{return Rate(n, a, 0, &r.options.c_max_rate_kib);
}
}
, {"c-min-rate", kDisk | kSyncer, APPLY{return Rate(n, a, 0, &r.options.c_min_rate_kib);
}
}
, {"on-io-error", kDisk, nullptr}, {"disk-barrier", kDisk, nullptr}, {"disk-drain", kDisk, nullptr},
    {"resync-after", kDisk, nullptr}, {"after", kSyncer, nullptr}, {"al-updates", kDisk, nullptr},
    {"read-balancing", kDisk, nullptr}, {"discard-zeroes-if-aligned", kDisk, nullptr},
    {"rs-discard-granularity", kDisk, nullptr}, {"disable-write-same", kDisk, nullptr},
}
;
return table;
}

#undef APPLY

}  // namespace

const char* SectionName(SectionBit s) {
  switch (s) {
    case kNetSection:
      return "net";
    case kDiskSection:
      return "disk";
    case kOptionsSection:
      return "options";
    case kSyncerSection:
      return "syncer";
    case kResourceLevel:
      return "resource";
  }
  return "?";
}

const std::vector<OptionDef>& AllOptions() { return Table(); }

const OptionDef* FindOption(std::string_view name, SectionBit section, bool* known_elsewhere) {
  *known_elsewhere = false;
  for (const auto& def : Table()) {
    if (name != def.name) continue;
    if (def.sections & section) return &def;
    *known_elsewhere = true;
  }
  return nullptr;
}

const char* AfterSb0Name(engine::AfterSb0 v) { return NameOf(kAfterSb0, v); }
const char* AfterSb1Name(engine::AfterSb1 v) { return NameOf(kAfterSb1, v); }
const char* AfterSb2Name(engine::AfterSb2 v) { return NameOf(kAfterSb2, v); }
const char* RrConflictName(engine::RrConflict v) { return NameOf(kRrConflict, v); }
const char* OnNoQuorumName(engine::OnNoQuorum v) { return NameOf(kOnNoQuorum, v); }

std::string QuorumName(int quorum) {
  if (quorum == engine::kQuorumOff) return "off";
  if (quorum == engine::kQuorumMajority) return "majority";
  if (quorum == engine::kQuorumAll) return "all";
  return std::to_string(quorum);
}

bool SameOptions(const engine::Options& a, const engine::Options& b) {
  return a.protocol == b.protocol && a.allow_two_primaries == b.allow_two_primaries &&
         a.after_sb_0pri == b.after_sb_0pri && a.after_sb_1pri == b.after_sb_1pri &&
         a.after_sb_2pri == b.after_sb_2pri && a.always_asbp == b.always_asbp &&
         a.rr_conflict == b.rr_conflict && a.quorum == b.quorum &&
         a.quorum_minimum_redundancy == b.quorum_minimum_redundancy &&
         a.on_no_quorum == b.on_no_quorum && a.auto_promote == b.auto_promote &&
         a.auto_promote_timeout == b.auto_promote_timeout && a.max_epoch_size == b.max_epoch_size &&
         a.timeout == b.timeout && a.ping_int == b.ping_int && a.ping_timeout == b.ping_timeout &&
         a.ko_count == b.ko_count && a.connect_int == b.connect_int &&
         a.twopc_timeout == b.twopc_timeout && a.twopc_retry_timeout == b.twopc_retry_timeout &&
         a.al_extents == b.al_extents && a.verify_alg == b.verify_alg && a.csums == b.csums &&
         a.disk_flushes == b.disk_flushes && a.disk_timeout == b.disk_timeout &&
         a.resync_rate_kib == b.resync_rate_kib && a.c_plan_ahead == b.c_plan_ahead &&
         a.c_fill_target_sectors == b.c_fill_target_sectors &&
         a.c_delay_target == b.c_delay_target && a.c_max_rate_kib == b.c_max_rate_kib &&
         a.c_min_rate_kib == b.c_min_rate_kib && a.max_buffers == b.max_buffers;
}

}  // namespace tandem::adm::internal
