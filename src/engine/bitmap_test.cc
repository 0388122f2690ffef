#include "engine/bitmap.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace tandem::engine {
namespace {

// Reference model: a plain vector of bools with the same operations.
class Model {
 public:
  explicit Model(uint64_t bits) : v_(bits, false) {}
  uint64_t Fill(uint64_t first, uint64_t count, bool value) {
    uint64_t changed = 0;
    for (uint64_t i = first; i < first + count; ++i) {
      if (v_[i] != value) ++changed;
      v_[i] = value;
    }
    return changed;
  }
  uint64_t Count(uint64_t first, uint64_t count) const {
    uint64_t n = 0;
    for (uint64_t i = first; i < first + count; ++i) n += v_[i] ? 1 : 0;
    return n;
  }
  uint64_t FindNext(uint64_t from, bool value) const {
    for (uint64_t i = from; i < v_.size(); ++i) {
      if (v_[i] == value) return i;
    }
    return v_.size();
  }
  void Resize(uint64_t bits) { v_.resize(bits, false); }
  uint64_t size() const { return v_.size(); }
  bool Get(uint64_t i) const { return v_[i]; }

 private:
  std::vector<bool> v_;
};

void ExpectSame(const Bitmap& bm, const Model& m) {
  ASSERT_EQ(bm.size(), m.size());
  ASSERT_EQ(bm.Count(), m.Count(0, m.size()));
  for (uint64_t i = 0; i < m.size(); ++i) ASSERT_EQ(bm.Test(i), m.Get(i)) << "bit " << i;
}

Bitmap FromBits(uint64_t bits, std::initializer_list<uint64_t> set) {
  Bitmap bm(bits);
  for (uint64_t b : set) bm.Set(b);
  return bm;
}

Bitmap RoundTrip(const Bitmap& bm) {
  Bytes enc = bm.EncodeCompact();
  auto r = Bitmap::DecodeCompact(enc, bm.size());
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : Bitmap();
}

Errc DecodeError(const Bytes& in, uint64_t bits) {
  auto r = Bitmap::DecodeCompact(in, bits);
  return r.code();
}

// --- basic bit operations ---------------------------------------------------

TEST(Bitmap, StartsClearAndCountsSingleBitChanges) {
  Bitmap bm(130);
  EXPECT_EQ(bm.size(), 130u);
  EXPECT_EQ(bm.Count(), 0u);
  EXPECT_EQ(bm.Set(129), 1u);
  EXPECT_EQ(bm.Set(129), 0u);  // already set: no change
  EXPECT_TRUE(bm.Test(129));
  EXPECT_EQ(bm.Count(), 1u);
  EXPECT_EQ(bm.Clear(129), 1u);
  EXPECT_EQ(bm.Clear(129), 0u);
  EXPECT_EQ(bm.Count(), 0u);
}

TEST(Bitmap, RangeOpsSpanWordBoundaries) {
  Bitmap bm(300);
  EXPECT_EQ(bm.SetRange(60, 10), 10u);  // crosses word 0/1
  EXPECT_EQ(bm.SetRange(62, 4), 0u);
  EXPECT_EQ(bm.SetRange(0, 300), 290u);  // whole map, partial last word
  EXPECT_EQ(bm.Count(), 300u);
  EXPECT_EQ(bm.ClearRange(63, 130), 130u);  // three words
  EXPECT_EQ(bm.Count(), 170u);
  EXPECT_EQ(bm.CountRange(60, 10), 3u);
  EXPECT_EQ(bm.CountRange(63, 130), 0u);
  EXPECT_EQ(bm.CountRange(0, 300), 170u);
  EXPECT_EQ(bm.SetRange(128, 64), 64u);  // exactly one aligned word
  EXPECT_EQ(bm.CountRange(128, 64), 64u);
  EXPECT_EQ(bm.SetRange(10, 0), 0u);
  EXPECT_EQ(bm.ClearRange(300, 0), 0u);
  EXPECT_EQ(bm.CountRange(300, 0), 0u);
}

TEST(Bitmap, SetAllKeepsBitsPastSizeZero) {
  Bitmap bm(70);
  bm.SetAll();
  EXPECT_EQ(bm.Count(), 70u);
  EXPECT_EQ(bm.words()[1], (uint64_t{1} << 6) - 1);
  bm.ClearAll();
  EXPECT_EQ(bm.Count(), 0u);
  EXPECT_EQ(bm.words()[0], 0u);
}

TEST(Bitmap, ResizeShrinksAndGrowsWithClearNewBits) {
  Bitmap bm(200);
  bm.SetAll();
  bm.Resize(65);
  EXPECT_EQ(bm.size(), 65u);
  EXPECT_EQ(bm.Count(), 65u);
  EXPECT_EQ(bm.words().size(), 2u);
  EXPECT_EQ(bm.words()[1], 1u);
  bm.Resize(300);
  EXPECT_EQ(bm.Count(), 65u);
  EXPECT_FALSE(bm.Test(65));
  EXPECT_EQ(bm.FindNextClear(0), 65u);
  EXPECT_EQ(bm.FindNextSet(65), 300u);
  bm.Resize(0);
  EXPECT_EQ(bm.Count(), 0u);
  EXPECT_TRUE(bm.words().empty());
}

TEST(Bitmap, FindNextSetAndClear) {
  Bitmap bm(1000);
  EXPECT_EQ(bm.FindNextSet(0), 1000u);
  EXPECT_EQ(bm.FindNextClear(0), 0u);
  bm.Set(5);
  bm.Set(64);
  bm.Set(999);
  EXPECT_EQ(bm.FindNextSet(0), 5u);
  EXPECT_EQ(bm.FindNextSet(5), 5u);
  EXPECT_EQ(bm.FindNextSet(6), 64u);
  EXPECT_EQ(bm.FindNextSet(65), 999u);  // skips many clear words
  EXPECT_EQ(bm.FindNextSet(1000), 1000u);
  EXPECT_EQ(bm.FindNextSet(5000), 1000u);
  bm.SetAll();
  bm.Clear(700);
  EXPECT_EQ(bm.FindNextClear(0), 700u);
  EXPECT_EQ(bm.FindNextClear(701), 1000u);  // zero tail bits are not reported
  EXPECT_EQ(bm.FindNextClear(1000), 1000u);
}

TEST(Bitmap, OrMergesAndRecounts) {
  Bitmap a = FromBits(130, {0, 64, 129});
  Bitmap b = FromBits(130, {1, 64, 128});
  a.Or(b);
  EXPECT_EQ(a, FromBits(130, {0, 1, 64, 128, 129}));
  EXPECT_EQ(a.Count(), 5u);
}

TEST(Bitmap, EqualityComparesSizeAndBits) {
  EXPECT_EQ(FromBits(10, {3}), FromBits(10, {3}));
  EXPECT_FALSE(FromBits(10, {3}) == FromBits(10, {4}));
  EXPECT_FALSE(FromBits(10, {3}) == FromBits(11, {3}));
}

TEST(Bitmap, RandomOperationsMatchModel) {
  std::mt19937_64 rng(12345);
  for (uint64_t size : {1u, 63u, 64u, 65u, 257u, 1000u}) {
    Bitmap bm(size);
    Model m(size);
    for (int op = 0; op < 3000; ++op) {
      const uint64_t first = rng() % (m.size() + 1);
      const uint64_t count = m.size() == first ? 0 : rng() % (m.size() - first + 1);
      const uint64_t bit = m.size() == 0 ? 0 : rng() % m.size();
      switch (rng() % 9) {
        case 0:
          if (m.size() > 0) {
            ASSERT_EQ(bm.Set(bit), m.Fill(bit, 1, true));
          }
          break;
        case 1:
          if (m.size() > 0) {
            ASSERT_EQ(bm.Clear(bit), m.Fill(bit, 1, false));
          }
          break;
        case 2:
          ASSERT_EQ(bm.SetRange(first, count), m.Fill(first, count, true));
          break;
        case 3:
          ASSERT_EQ(bm.ClearRange(first, count), m.Fill(first, count, false));
          break;
        case 4:
          ASSERT_EQ(bm.CountRange(first, count), m.Count(first, count));
          break;
        case 5:
          ASSERT_EQ(bm.FindNextSet(first), m.FindNext(first, true));
          ASSERT_EQ(bm.FindNextClear(first), m.FindNext(first, false));
          break;
        case 6: {
          Bitmap other(m.size());
          Model om(m.size());
          for (int k = 0; k < 5 && m.size() > 0; ++k) {
            uint64_t b = rng() % m.size();
            other.Set(b);
            om.Fill(b, 1, true);
          }
          bm.Or(other);
          for (uint64_t i = 0; i < m.size(); ++i) {
            if (om.Get(i)) m.Fill(i, 1, true);
          }
          break;
        }
        case 7:
          if (rng() % 20 == 0) {
            const uint64_t n = rng() % (2 * size + 1);
            bm.Resize(n);
            m.Resize(n);
          }
          break;
        case 8:
          if (rng() % 50 == 0) {
            bm.SetAll();
            m.Fill(0, m.size(), true);
          }
          break;
      }
      ASSERT_EQ(bm.Count(), m.Count(0, m.size())) << "op " << op;
    }
    ExpectSame(bm, m);
    ExpectSame(RoundTrip(bm), m);
  }
}

// --- compact encoding -------------------------------------------------------

// The worked example of docs/bitmap-encoding.md.
TEST(BitmapEncoding, WorkedExampleGoldenBytes) {
  Bitmap bm(100);
  bm.SetRange(10, 10);
  bm.Set(64);
  const Bytes want = {0x01, 0x00, 0x0a, 0x0a, 0x2c, 0x01, 0x23};
  EXPECT_EQ(bm.EncodeCompact(), want);
  auto r = Bitmap::DecodeCompact(want, 100);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, bm);
}

TEST(BitmapEncoding, MultiByteVarintGoldenBytes) {
  Bitmap bm = FromBits(20000, {10000});
  // runs: 10000 clear, 1 set, 9999 clear.
  const Bytes want = {0x01, 0x00, 0x90, 0x4e, 0x01, 0x8f, 0x4e};
  EXPECT_EQ(bm.EncodeCompact(), want);
}

TEST(BitmapEncoding, PlainGoldenBytes) {
  Bitmap bm(16);
  for (uint64_t i = 0; i < 16; i += 2) bm.Set(i);  // 8 runs of one: longer than plain
  const Bytes want = {0x00, 0x55, 0x55, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(bm.EncodeCompact(), want);
  EXPECT_EQ(Bitmap(0).EncodeCompact(), Bytes{0x00});
}

TEST(BitmapEncoding, FirstRunPolarityFollowsBitZero) {
  Bitmap bm(1000);
  bm.SetRange(0, 300);
  EXPECT_EQ(bm.EncodeCompact(), (Bytes{0x01, 0x01, 0xac, 0x02, 0xbc, 0x05}));
}

TEST(BitmapEncoding, RoundTripsCharacteristicBitmaps) {
  std::mt19937_64 rng(7);
  for (uint64_t size : {0u, 1u, 63u, 64u, 65u, 127u, 1000u, 4099u, 100001u}) {
    Bitmap empty(size);
    Bitmap full(size);
    full.SetAll();
    Bitmap sparse(size), dense(size), alternating(size), random(size);
    dense.SetAll();
    for (uint64_t i = 0; i < size; ++i) {
      if (rng() % 97 == 0) sparse.Set(i);
      if (rng() % 89 == 0) dense.Clear(i);
      if (i % 2 == 1) alternating.Set(i);
      if (rng() % 2 == 0) random.Set(i);
    }
    for (const Bitmap* bm : {&empty, &full, &sparse, &dense, &alternating, &random}) {
      EXPECT_EQ(RoundTrip(*bm), *bm) << "size " << size;
    }
  }
}

TEST(BitmapEncoding, PicksTheShorterForm) {
  std::mt19937_64 rng(99);
  const uint64_t size = 4099;
  const size_t plain_size = 1 + 8 * ((size + 63) / 64);
  Bitmap sparse(size);
  for (int i = 0; i < 20; ++i) sparse.Set(rng() % size);
  Bytes s = sparse.EncodeCompact();
  EXPECT_EQ(s[0], 1);
  EXPECT_LT(s.size(), plain_size);

  Bitmap full(size);
  full.SetAll();
  EXPECT_EQ(full.EncodeCompact(), (Bytes{0x01, 0x01, 0x83, 0x20}));

  Bitmap random(size);
  for (uint64_t i = 0; i < size; ++i) {
    if (rng() % 2) random.Set(i);
  }
  Bytes r = random.EncodeCompact();
  EXPECT_EQ(r[0], 0);
  EXPECT_EQ(r.size(), plain_size);
}

TEST(BitmapEncoding, RejectsUnknownTagAndEmptyInput) {
  EXPECT_EQ(DecodeError({}, 10), Errc::kTruncated);
  EXPECT_EQ(DecodeError({0x02, 0x00}, 10), Errc::kCorrupt);
  EXPECT_EQ(DecodeError({0xff}, 0), Errc::kCorrupt);
}

TEST(BitmapEncoding, RejectsPlainLengthMismatchAndBitsPastSize) {
  Bytes ok = {0x00, 0x01, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_TRUE(Bitmap::DecodeCompact(ok, 10).ok());
  Bytes shorter(ok.begin(), ok.end() - 1);
  EXPECT_EQ(DecodeError(shorter, 10), Errc::kTruncated);
  Bytes longer = ok;
  longer.push_back(0);
  EXPECT_EQ(DecodeError(longer, 10), Errc::kCorrupt);
  Bytes past = {0x00, 0x00, 0x04, 0, 0, 0, 0, 0, 0};  // bit 10 of a 10-bit map
  auto r = Bitmap::DecodeCompact(past, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Errc::kCorrupt);
  EXPECT_NE(r.error().message.find("past"), std::string::npos);
  EXPECT_EQ(DecodeError({0x00, 0x00}, 0), Errc::kCorrupt);
}

TEST(BitmapEncoding, RejectsBadRunLengthStructure) {
  EXPECT_EQ(DecodeError({0x01}, 10), Errc::kTruncated);              // no polarity
  EXPECT_EQ(DecodeError({0x01, 0x02, 0x0a}, 10), Errc::kCorrupt);    // polarity 2
  EXPECT_EQ(DecodeError({0x01, 0x01}, 0), Errc::kCorrupt);           // polarity 1, no bits
  EXPECT_TRUE(Bitmap::DecodeCompact(Bytes{0x01, 0x00}, 0).ok());     // empty map
  EXPECT_EQ(DecodeError({0x01, 0x00, 0x04}, 10), Errc::kTruncated);  // covers 4 of 10
  EXPECT_EQ(DecodeError({0x01, 0x00, 0x0b}, 10), Errc::kCorrupt);    // covers 11 of 10
  EXPECT_EQ(DecodeError({0x01, 0x00, 0x04, 0x07}, 10), Errc::kCorrupt);
  EXPECT_EQ(DecodeError({0x01, 0x00, 0x00, 0x0a}, 10), Errc::kCorrupt);  // zero-length run
  EXPECT_EQ(DecodeError({0x01, 0x00, 0x04, 0x00, 0x06}, 10), Errc::kCorrupt);
  EXPECT_EQ(DecodeError({0x01, 0x00, 0x0a, 0x00}, 10), Errc::kCorrupt);  // trailing byte
  EXPECT_TRUE(Bitmap::DecodeCompact(Bytes{0x01, 0x00, 0x04, 0x06}, 10).ok());
}

TEST(BitmapEncoding, RejectsBadVarints) {
  EXPECT_EQ(DecodeError({0x01, 0x00, 0x80}, 1000), Errc::kTruncated);    // ends inside
  EXPECT_EQ(DecodeError({0x01, 0x00, 0x8a, 0x00}, 10), Errc::kCorrupt);  // non-minimal 10
  Bytes ten = {0x01, 0x00};
  for (int i = 0; i < 9; ++i) ten.push_back(0xff);
  ten.push_back(0x01);  // 10 bytes: >= 2^63
  EXPECT_EQ(DecodeError(ten, ~uint64_t{0}), Errc::kCorrupt);
  Bytes huge = {0x01, 0x00};
  for (int i = 0; i < 8; ++i) huge.push_back(0xff);
  huge.push_back(0x7f);  // 2^63 - 1, far more than 1000 bits
  EXPECT_EQ(DecodeError(huge, 1000), Errc::kCorrupt);
  Bytes endless = {0x01, 0x00};
  for (int i = 0; i < 40; ++i) endless.push_back(0x80);
  EXPECT_EQ(DecodeError(endless, 1000), Errc::kCorrupt);
}

TEST(BitmapEncoding, EveryProperPrefixIsTruncated) {
  Bitmap rle = FromBits(20000, {3, 10000, 19999});
  Bitmap plain(200);
  for (uint64_t i = 0; i < 200; i += 3) plain.Set(i);
  for (const Bitmap* bm : {&rle, &plain}) {
    const Bytes enc = bm->EncodeCompact();
    for (size_t n = 0; n < enc.size(); ++n) {
      // An exact-size copy, so a read past the end is caught by sanitizers.
      Bytes prefix(enc.begin(), enc.begin() + static_cast<long>(n));
      EXPECT_EQ(DecodeError(prefix, bm->size()), Errc::kTruncated) << "prefix " << n;
    }
  }
}

}  // namespace
}  // namespace tandem::engine
