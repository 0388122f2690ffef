// Standalone driver for fuzz targets when libFuzzer is not used: feeds the
// target deterministic pseudo-random inputs (random bytes and mutations of
// earlier inputs) for --iterations rounds. A crash or TANDEM_CHECK aborts the
// process, which fails the ctest run.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Optional: targets may provide valid seed inputs to mutate from.
extern "C" __attribute__((weak)) size_t TandemFuzzSeeds(std::vector<std::vector<uint8_t>>* out);

int main(int argc, char** argv) {
  long iterations = 100000;
  uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--iterations=", 13) == 0) iterations = std::atol(argv[i] + 13);
    if (std::strncmp(argv[i], "--seed=", 7) == 0) seed = std::strtoull(argv[i] + 7, nullptr, 10);
  }
  std::mt19937_64 rng(seed);
  std::vector<std::vector<uint8_t>> pool;
  if (TandemFuzzSeeds) TandemFuzzSeeds(&pool);
  if (pool.empty()) pool.push_back({});
  for (long it = 0; it < iterations; ++it) {
    std::vector<uint8_t> in;
    int mode = static_cast<int>(rng() % 4);
    if (mode == 0) {
      in.resize(rng() % 256);
      for (auto& b : in) b = static_cast<uint8_t>(rng());
    } else {
      in = pool[rng() % pool.size()];
      int flips = 1 + static_cast<int>(rng() % 8);
      for (int f = 0; f < flips; ++f) {
        switch (rng() % 4) {
          case 0:
            if (!in.empty()) in[rng() % in.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
            break;
          case 1:
            if (!in.empty()) in.resize(rng() % in.size());
            break;
          case 2:
            in.push_back(static_cast<uint8_t>(rng()));
            break;
          case 3:
            if (!in.empty()) in[rng() % in.size()] = static_cast<uint8_t>(rng());
            break;
        }
      }
      if (pool.size() < 4096 && rng() % 16 == 0) pool.push_back(in);
    }
    LLVMFuzzerTestOneInput(in.data(), in.size());
  }
  std::printf("fuzz: %ld iterations, no crash\n", iterations);
  return 0;
}
