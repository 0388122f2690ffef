// tandem-blockcheck: writes stamped 4 KiB blocks over NBD, records what was
// acknowledged, and later verifies that every durable write survived
// (TESTING.md, "Real processes").
//
//   tandem-blockcheck write  --uri URI --log FILE --blocks N [--count K]
//                            [--seed S] [--fua-every M] [--flush-every M]
//   tandem-blockcheck verify --uri URI --log FILE
//
// A block holds: magic u64, block index u64, sequence number u64, a 64-bit
// hash of the rest, then a pattern derived from the sequence number.
// The log has one line per acknowledged event, appended as it happens:
//   W seq block     a write was acknowledged (not yet durable)
//   D seq block     a write with FUA was acknowledged (durable)
//   F seq           a flush was acknowledged; every write acked before it is durable
// `write` stops at the first failed request (the node died) and exits 0 when
// at least one write was acknowledged; the log is the truth.
//
// verify: for every block, the write that must be there is the newest durable
// one; the block may also hold any newer write that was issued. It fails when
// a block holds an older write, a corrupt stamp, or a sequence number never
// issued for that block.
#include <libnbd.h>
#include <xxhash.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr uint64_t kMagic = 0x314b4c424d444e54ull;  // "TNDMBLK1"
constexpr size_t kBlock = 4096;

void Stamp(uint64_t block, uint64_t seq, uint8_t* buf) {
  uint64_t hdr[3] = {kMagic, block, seq};
  memcpy(buf, hdr, 24);
  std::mt19937_64 fill(seq * 0x9E3779B97F4A7C15ull + block);
  for (size_t i = 32; i < kBlock; i += 8) {
    uint64_t x = fill();
    memcpy(buf + i, &x, 8);
  }
  uint64_t h = XXH64(buf + 32, kBlock - 32, seq ^ block);
  memcpy(buf + 24, &h, 8);
}

// Returns the sequence number, 0 for a never-written (all-zero) block, or -1
// when the stamp is corrupt or names another block.
int64_t Check(uint64_t block, const uint8_t* buf) {
  uint64_t hdr[4];
  memcpy(hdr, buf, 32);
  if (hdr[0] == 0 && hdr[1] == 0 && hdr[2] == 0 && hdr[3] == 0) {
    for (size_t i = 0; i < kBlock; ++i) {
      if (buf[i] != 0) return -1;
    }
    return 0;
  }
  if (hdr[0] != kMagic || hdr[1] != block) return -1;
  if (XXH64(buf + 32, kBlock - 32, hdr[2] ^ block) != hdr[3]) return -1;
  return static_cast<int64_t>(hdr[2]);
}

struct Args {
  std::string mode, uri, log;
  uint64_t blocks = 1024, count = 0, seed = 1, fua_every = 0, flush_every = 16;
};

int Usage() {
  fprintf(stderr,
          "usage: tandem-blockcheck write --uri URI --log FILE --blocks N [--count K] "
          "[--seed S] [--fua-every M] [--flush-every M]\n"
          "       tandem-blockcheck verify --uri URI --log FILE\n");
  return 2;
}

nbd_handle* Open(const std::string& uri) {
  nbd_handle* h = nbd_create();
  if (!h) return nullptr;
  if (nbd_connect_uri(h, uri.c_str()) == -1) {
    fprintf(stderr, "tandem-blockcheck: %s: %s\n", uri.c_str(), nbd_get_error());
    nbd_close(h);
    return nullptr;
  }
  return h;
}

int Write(const Args& a) {
  nbd_handle* h = Open(a.uri);
  if (!h) return 1;
  int64_t size = nbd_get_size(h);
  if (size < 0 || static_cast<uint64_t>(size) < a.blocks * kBlock) {
    fprintf(stderr, "tandem-blockcheck: export is smaller than %" PRIu64 " blocks\n", a.blocks);
    return 1;
  }
  // Sequence numbers continue after any earlier run logged in the same file.
  uint64_t seq = 0;
  {
    std::ifstream in(a.log);
    std::string kind;
    uint64_t s = 0;
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      if (ls >> kind >> s) seq = std::max(seq, s);
    }
  }
  FILE* log = fopen(a.log.c_str(), "a");
  if (!log) {
    perror(a.log.c_str());
    return 1;
  }
  std::mt19937_64 rng(a.seed);
  std::vector<uint8_t> buf(kBlock);
  uint64_t acked = 0;
  for (uint64_t i = 0; a.count == 0 || i < a.count; ++i) {
    uint64_t block = rng() % a.blocks;
    ++seq;
    Stamp(block, seq, buf.data());
    bool fua = a.fua_every > 0 && i % a.fua_every == a.fua_every - 1;
    if (nbd_pwrite(h, buf.data(), kBlock, block * kBlock, fua ? LIBNBD_CMD_FLAG_FUA : 0) == -1) {
      fprintf(stderr, "tandem-blockcheck: write %" PRIu64 " failed: %s\n", seq, nbd_get_error());
      break;
    }
    ++acked;
    fprintf(log, "%c %" PRIu64 " %" PRIu64 "\n", fua ? 'D' : 'W', seq, block);
    fflush(log);
    if (a.flush_every > 0 && i % a.flush_every == a.flush_every - 1) {
      if (nbd_flush(h, 0) == -1) {
        fprintf(stderr, "tandem-blockcheck: flush failed: %s\n", nbd_get_error());
        break;
      }
      fprintf(log, "F %" PRIu64 "\n", seq);
      fflush(log);
    }
  }
  fclose(log);
  if (nbd_is_read_only(h) == 0) nbd_shutdown(h, 0);
  nbd_close(h);
  printf("acknowledged %" PRIu64 " writes\n", acked);
  return acked > 0 ? 0 : 1;
}

int Verify(const Args& a) {
  std::ifstream in(a.log);
  if (!in) {
    fprintf(stderr, "tandem-blockcheck: cannot read %s\n", a.log.c_str());
    return 1;
  }
  // Per block: every issued sequence number, and the newest durable one.
  std::map<uint64_t, std::set<uint64_t>> issued;
  std::map<uint64_t, uint64_t> durable;
  std::vector<std::pair<uint64_t, uint64_t>> pending;  // acked, not yet durable
  std::string line;
  uint64_t max_seq = 0;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    char kind = 0;
    uint64_t seq = 0, block = 0;
    ls >> kind >> seq;
    max_seq = std::max(max_seq, seq);
    if (kind == 'W' || kind == 'D') {
      ls >> block;
      issued[block].insert(seq);
      if (kind == 'D') {
        durable[block] = std::max(durable[block], seq);
      } else {
        pending.emplace_back(seq, block);
      }
    } else if (kind == 'F') {
      for (auto& [s, b] : pending) durable[b] = std::max(durable[b], s);
      pending.clear();
    }
  }
  nbd_handle* h = Open(a.uri);
  if (!h) return 1;
  std::vector<uint8_t> buf(kBlock);
  uint64_t bad = 0, checked = 0;
  for (const auto& [block, seqs] : issued) {
    if (nbd_pread(h, buf.data(), kBlock, block * kBlock, 0) == -1) {
      fprintf(stderr, "tandem-blockcheck: read of block %" PRIu64 " failed: %s\n", block,
              nbd_get_error());
      return 1;
    }
    ++checked;
    int64_t got = Check(block, buf.data());
    uint64_t need = durable.count(block) ? durable[block] : 0;
    if (got < 0) {
      fprintf(stderr, "block %" PRIu64 ": corrupt stamp\n", block);
      ++bad;
    } else if (got == 0 && need > 0) {
      fprintf(stderr, "block %" PRIu64 ": lost durable write %" PRIu64 " (block is empty)\n", block,
              need);
      ++bad;
    } else if (got > 0 && !seqs.count(static_cast<uint64_t>(got)) &&
               static_cast<uint64_t>(got) <= max_seq) {
      fprintf(stderr, "block %" PRIu64 ": holds write %" PRId64 " never issued for it\n", block,
              got);
      ++bad;
    } else if (got > 0 && static_cast<uint64_t>(got) < need) {
      fprintf(stderr,
              "block %" PRIu64 ": holds write %" PRId64 ", older than durable %" PRIu64 "\n", block,
              got, need);
      ++bad;
    }
  }
  nbd_close(h);
  printf("verified %" PRIu64 " blocks, %zu with durable writes: %" PRIu64 " bad\n", checked,
         durable.size(), bad);
  return bad == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  Args a;
  a.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) return Usage();
    std::string v = argv[++i];
    if (k == "--uri")
      a.uri = v;
    else if (k == "--log")
      a.log = v;
    else if (k == "--blocks")
      a.blocks = strtoull(v.c_str(), nullptr, 10);
    else if (k == "--count")
      a.count = strtoull(v.c_str(), nullptr, 10);
    else if (k == "--seed")
      a.seed = strtoull(v.c_str(), nullptr, 10);
    else if (k == "--fua-every")
      a.fua_every = strtoull(v.c_str(), nullptr, 10);
    else if (k == "--flush-every")
      a.flush_every = strtoull(v.c_str(), nullptr, 10);
    else
      return Usage();
  }
  if (a.uri.empty() || a.log.empty() || a.blocks == 0) return Usage();
  if (a.mode == "write") return Write(a);
  if (a.mode == "verify") return Verify(a);
  return Usage();
}
