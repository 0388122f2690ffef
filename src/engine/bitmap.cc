// Bitmap implementation. The compact wire format is specified byte by byte in
// docs/bitmap-encoding.md; keep the two in step.
//
// Invariants (checked where they could break):
//   words_.size() == ceil(bits_ / 64);
//   bits at positions >= bits_ in the last word are zero, so word-level
//   popcounts, scans, comparisons and the plain encoding need no masking;
//   count_ == number of set bits, maintained by every mutator.
#include "engine/bitmap.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

#include "common/check.h"

namespace tandem::engine {
namespace {

constexpr uint64_t kAllOnes = ~uint64_t{0};

// Format tags (first byte of a compact encoding).
constexpr uint8_t kTagPlain = 0;
constexpr uint8_t kTagRunLength = 1;

// Run lengths are below 2^63, so a minimal LEB128 varint has at most 9 bytes.
constexpr int kMaxVarintBytes = 9;

// Written as a division so that bits near 2^64 cannot overflow.
uint64_t WordCount(uint64_t bits) { return bits / 64 + (bits % 64 != 0 ? 1 : 0); }

// Mask of the bits of the last word that lie inside a bitmap of `bits` bits.
uint64_t TailMask(uint64_t bits) {
  const uint64_t r = bits % 64;
  return r == 0 ? kAllOnes : (uint64_t{1} << r) - 1;
}

// Calls fn(word_index, mask) for each word touched by [first, first+count),
// with mask selecting the bits of that word inside the range. Keeps range
// operations at one step per word instead of one per bit.
// REQUIRES: count > 0.
template <class Fn>
void ForEachWordInRange(uint64_t first, uint64_t count, Fn&& fn) {
  const uint64_t last = first + count - 1;
  const uint64_t w0 = first / 64;
  const uint64_t w1 = last / 64;
  const uint64_t head = kAllOnes << (first % 64);
  const uint64_t tail = kAllOnes >> (63 - last % 64);
  if (w0 == w1) {
    fn(w0, head & tail);
    return;
  }
  fn(w0, head);
  for (uint64_t w = w0 + 1; w < w1; ++w) fn(w, kAllOnes);
  fn(w1, tail);
}

void PutVarint(uint64_t v, Bytes* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<uint8_t>(v));
}

// Reads one minimal unsigned LEB128 varint below 2^63 starting at in[*pos] and
// advances *pos. Never reads past `in`.
Result<uint64_t> GetVarint(ByteSpan in, size_t* pos) {
  uint64_t v = 0;
  for (int i = 0; i < kMaxVarintBytes; ++i) {
    if (*pos == in.size()) {
      return MakeError(Errc::kTruncated, "bitmap: input ends inside a run-length varint");
    }
    const uint8_t b = in[(*pos)++];
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      // A final zero byte after other bytes adds nothing: a non-minimal form.
      if (b == 0 && i > 0) {
        return MakeError(Errc::kCorrupt, "bitmap: non-minimal run-length varint");
      }
      return v;
    }
  }
  return MakeError(Errc::kCorrupt, "bitmap: run-length varint longer than 9 bytes (>= 2^63)");
}

// Walks the runs of a run-length encoding (`in` starts with the tag and the
// polarity byte) and calls on_set(first, count) for every run of set bits.
// Checks that the runs are non-empty, cover exactly `bits` bits and are
// followed by nothing.
template <class Fn>
Status ForEachRun(ByteSpan in, uint64_t bits, bool set, Fn&& on_set) {
  uint64_t covered = 0;
  size_t pos = 2;
  while (covered < bits) {
    if (pos == in.size()) {
      return MakeError(Errc::kTruncated, "bitmap: runs cover " + std::to_string(covered) + " of " +
                                             std::to_string(bits) + " bits");
    }
    Result<uint64_t> run = GetVarint(in, &pos);
    if (!run.ok()) return run.error();
    if (*run == 0) {
      return MakeError(Errc::kCorrupt, "bitmap: zero-length run at bit " + std::to_string(covered));
    }
    if (*run > bits - covered) {
      return MakeError(Errc::kCorrupt, "bitmap: runs cover more than " + std::to_string(bits) +
                                           " bits (run of " + std::to_string(*run) + " at bit " +
                                           std::to_string(covered) + ")");
    }
    if (set) on_set(covered, *run);
    covered += *run;
    set = !set;
  }
  if (pos != in.size()) {
    return MakeError(Errc::kCorrupt, "bitmap: " + std::to_string(in.size() - pos) +
                                         " trailing bytes after the last run");
  }
  return Status();
}

// Appends the run-length form of `bm` to *out. Gives up (returns false) once
// the output reaches `limit` bytes, so that a bitmap with many short runs
// costs no more than the plain form would.
bool TryEncodeRunLength(const Bitmap& bm, size_t limit, Bytes* out) {
  out->push_back(kTagRunLength);
  bool set = bm.size() > 0 && bm.Test(0);
  out->push_back(set ? 1 : 0);
  uint64_t pos = 0;
  while (pos < bm.size()) {
    const uint64_t end = set ? bm.FindNextClear(pos) : bm.FindNextSet(pos);
    PutVarint(end - pos, out);
    if (out->size() >= limit) return false;
    pos = end;
    set = !set;
  }
  return out->size() < limit;
}

}  // namespace

Bitmap::Bitmap(uint64_t bits) : bits_(bits), words_(WordCount(bits), 0) {}

void Bitmap::Resize(uint64_t bits) {
  if (bits < bits_) {
    words_.resize(WordCount(bits));
    if (!words_.empty()) words_.back() &= TailMask(bits);
    bits_ = bits;
    Recount();
  } else {
    // The old tail bits are zero by the invariant, so new bits start clear
    // and count_ is unchanged.
    words_.resize(WordCount(bits), 0);
    bits_ = bits;
  }
  TANDEM_CHECK(words_.size() == WordCount(bits_));
  TANDEM_CHECK(words_.empty() || (words_.back() & ~TailMask(bits_)) == 0);
}

bool Bitmap::Test(uint64_t bit) const {
  TANDEM_CHECK(bit < bits_);
  return (words_[bit / 64] >> (bit % 64)) & 1;
}

uint64_t Bitmap::Set(uint64_t bit) {
  TANDEM_CHECK(bit < bits_);
  uint64_t& w = words_[bit / 64];
  const uint64_t m = uint64_t{1} << (bit % 64);
  const uint64_t changed = (w & m) == 0 ? 1 : 0;
  w |= m;
  count_ += changed;
  return changed;
}

uint64_t Bitmap::Clear(uint64_t bit) {
  TANDEM_CHECK(bit < bits_);
  uint64_t& w = words_[bit / 64];
  const uint64_t m = uint64_t{1} << (bit % 64);
  const uint64_t changed = (w & m) != 0 ? 1 : 0;
  w &= ~m;
  count_ -= changed;
  return changed;
}

uint64_t Bitmap::SetRange(uint64_t first, uint64_t count) {
  TANDEM_CHECK(first <= bits_ && count <= bits_ - first);
  if (count == 0) return 0;
  uint64_t changed = 0;
  ForEachWordInRange(first, count, [&](uint64_t w, uint64_t mask) {
    changed += std::popcount(mask & ~words_[w]);
    words_[w] |= mask;
  });
  count_ += changed;
  return changed;
}

uint64_t Bitmap::ClearRange(uint64_t first, uint64_t count) {
  TANDEM_CHECK(first <= bits_ && count <= bits_ - first);
  if (count == 0) return 0;
  uint64_t changed = 0;
  ForEachWordInRange(first, count, [&](uint64_t w, uint64_t mask) {
    changed += std::popcount(mask & words_[w]);
    words_[w] &= ~mask;
  });
  count_ -= changed;
  return changed;
}

void Bitmap::SetAll() {
  std::fill(words_.begin(), words_.end(), kAllOnes);
  if (!words_.empty()) words_.back() &= TailMask(bits_);
  count_ = bits_;
}

void Bitmap::ClearAll() {
  std::fill(words_.begin(), words_.end(), 0);
  count_ = 0;
}

uint64_t Bitmap::CountRange(uint64_t first, uint64_t count) const {
  TANDEM_CHECK(first <= bits_ && count <= bits_ - first);
  if (count == 0) return 0;
  uint64_t n = 0;
  ForEachWordInRange(first, count,
                     [&](uint64_t w, uint64_t mask) { n += std::popcount(mask & words_[w]); });
  return n;
}

uint64_t Bitmap::FindNextSet(uint64_t from) const {
  if (from >= bits_) return bits_;
  uint64_t w = from / 64;
  uint64_t word = words_[w] & (kAllOnes << (from % 64));
  while (word == 0) {
    if (++w == words_.size()) return bits_;
    word = words_[w];
  }
  // Tail bits are zero, so a set bit found here is always < bits_.
  return w * 64 + static_cast<uint64_t>(__builtin_ctzll(word));
}

uint64_t Bitmap::FindNextClear(uint64_t from) const {
  if (from >= bits_) return bits_;
  uint64_t w = from / 64;
  uint64_t word = ~words_[w] & (kAllOnes << (from % 64));
  while (word == 0) {
    if (++w == words_.size()) return bits_;
    word = ~words_[w];
  }
  // The zero tail bits look clear; clamp so they are never reported.
  return std::min(w * 64 + static_cast<uint64_t>(__builtin_ctzll(word)), bits_);
}

void Bitmap::Or(const Bitmap& other) {
  TANDEM_CHECK(bits_ == other.bits_);
  uint64_t n = 0;
  for (size_t i = 0; i < words_.size(); ++i) {
    words_[i] |= other.words_[i];
    n += std::popcount(words_[i]);
  }
  count_ = n;
}

bool Bitmap::operator==(const Bitmap& other) const {
  return bits_ == other.bits_ && count_ == other.count_ && words_ == other.words_;
}

void Bitmap::Recount() {
  uint64_t n = 0;
  for (uint64_t w : words_) n += std::popcount(w);
  count_ = n;
}

Bytes Bitmap::EncodeCompact() const {
  const size_t plain_size = 1 + 8 * words_.size();
  Bytes out;
  if (TryEncodeRunLength(*this, plain_size, &out)) return out;
  out.clear();
  out.reserve(plain_size);
  ByteWriter w(&out);
  w.U8(kTagPlain);
  for (uint64_t word : words_) w.U64(word);
  return out;
}

Result<Bitmap> Bitmap::DecodeCompact(ByteSpan in, uint64_t bits) {
  if (in.empty()) {
    return MakeError(Errc::kTruncated, "bitmap: empty encoding, expected a format tag byte");
  }
  const uint8_t tag = in[0];

  if (tag == kTagPlain) {
    const uint64_t nwords = WordCount(bits);
    const uint64_t want = 8 * nwords;
    const size_t got = in.size() - 1;
    if (got < want) {
      return MakeError(Errc::kTruncated, "bitmap: plain encoding has " + std::to_string(got) +
                                             " bytes, expected " + std::to_string(want));
    }
    if (got > want) {
      return MakeError(Errc::kCorrupt, "bitmap: plain encoding has " + std::to_string(got) +
                                           " bytes, expected " + std::to_string(want));
    }
    Bitmap bm(bits);
    ByteReader r(in.subspan(1));
    for (uint64_t i = 0; i < nwords; ++i) bm.words_[i] = r.U64();
    TANDEM_CHECK(r.AtEnd());
    if (nwords > 0 && (bm.words_.back() & ~TailMask(bits)) != 0) {
      return MakeError(Errc::kCorrupt, "bitmap: plain encoding sets bits past the bitmap size " +
                                           std::to_string(bits));
    }
    bm.Recount();
    return bm;
  }

  if (tag != kTagRunLength) {
    return MakeError(Errc::kCorrupt,
                     "bitmap: unknown compact format tag " + std::to_string(static_cast<int>(tag)));
  }
  if (in.size() < 2) {
    return MakeError(Errc::kTruncated, "bitmap: run-length encoding lacks its polarity byte");
  }
  const uint8_t polarity = in[1];
  if (polarity > 1 || (bits == 0 && polarity != 0)) {
    return MakeError(Errc::kCorrupt, "bitmap: bad run-length polarity byte " +
                                         std::to_string(static_cast<int>(polarity)));
  }
  // Validate the whole input before allocating, so a malformed message cannot
  // make us allocate a large bitmap; then apply the runs.
  TANDEM_TRY(ForEachRun(in, bits, polarity == 1, [](uint64_t, uint64_t) {}));
  Bitmap bm(bits);
  Status applied = ForEachRun(in, bits, polarity == 1,
                              [&bm](uint64_t first, uint64_t count) { bm.SetRange(first, count); });
  TANDEM_CHECK(applied.ok());
  return bm;
}

}  // namespace tandem::engine
