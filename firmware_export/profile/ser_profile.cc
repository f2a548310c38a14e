// The profiler of ser_profile.h. Operators run in graph order, so the n-th event of an Invoke is
// node n; kSerProfileOps (ser_profile_ops.h, written by firmware_export/profile.py from the
// .tflite files) says how many nodes each piece has, so the profiler knows where an Invoke starts.
// Counter: on mps2-an386 (SER_VERIFY_MPS2) SysTick under `qemu-system-arm -icount shift=0`, one
// tick per 40 executed instructions; on the host Valgrind's callgrind counts the instructions
// (each operator zeroes its counters and dumps them, tagged piece and node; the report is callgrind's).
#include "ser_profile.h"

#include <cstdint>
#include <cstdio>

#include "ser_profile_ops.h"

#ifdef SER_VERIFY_MPS2
extern "C" uint64_t mps2_counter_ticks(void);
#else
#include <valgrind/callgrind.h>
#endif

namespace {
constexpr int kPieces = sizeof(kSerProfileOps) / sizeof(kSerProfileOps[0]);
constexpr int kMaxOps = 256;  // firmware_export/profile.py checks the pieces against it

class OpProfiler : public tflite::MicroProfilerInterface {
 public:
  void Setup(int piece, int ops) {
    piece_ = piece;
    ops_ = ops < kMaxOps ? ops : kMaxOps;
  }

  uint32_t BeginEvent(const char* tag) override {
    if (next_ == 0) ++invokes_;
    const uint32_t node = static_cast<uint32_t>(next_);
    tags_[node] = tag;
    next_ = next_ + 1 == ops_ ? 0 : next_ + 1;
#ifdef SER_VERIFY_MPS2
    started_ = mps2_counter_ticks();
#else
    CALLGRIND_ZERO_STATS;
#endif
    return node;
  }

  void EndEvent(uint32_t node) override {
#ifdef SER_VERIFY_MPS2
    counts_[node] += mps2_counter_ticks() - started_;
#else
    char name[32];
    snprintf(name, sizeof(name), "SERPROF %d %lu", piece_, static_cast<unsigned long>(node));
    CALLGRIND_DUMP_STATS_AT(name);
#endif
  }

  void Report() const {
    for (int n = 0; n < ops_ && invokes_ > 0; ++n) {
      // (newlib-nano's printf has no %llu)
      printf("VERIFY-PROFILE %d %lu %d %lu %s\n", piece_, static_cast<unsigned long>(invokes_), n,
             static_cast<unsigned long>(counts_[n]), tags_[n] != nullptr ? tags_[n] : "?");
    }
  }

 private:
  int piece_ = 0;
  int ops_ = 1;
  int next_ = 0;
  uint32_t invokes_ = 0;
  uint64_t started_ = 0;
  uint32_t counts_[kMaxOps] = {};  // ticks: 2^32 of them are 171 G instructions
  const char* tags_[kMaxOps] = {};
};

OpProfiler g_profilers[kPieces];
}  // namespace

tflite::MicroProfilerInterface* SerProfiler(int piece) {
  if (piece < 0 || piece >= kPieces) return nullptr;
  g_profilers[piece].Setup(piece, kSerProfileOps[piece]);
  return &g_profilers[piece];
}

void SerProfileReport() {
  for (const OpProfiler& profiler : g_profilers) profiler.Report();
  fflush(stdout);
}
