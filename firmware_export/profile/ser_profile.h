// Per-operator instruction counts of a profile build (`ser-reparam profile-firmware`): each
// interpreter of the app gets its own profiler (piece 0: the whole-window model or the streaming
// step; 1: attend; 2: classify), which TFLM calls around every operator's Invoke.
// Not part of a bundle: the app's SER_PROFILER(piece) is nullptr unless built with SER_PROFILE.
#ifndef SER_PROFILE_H_
#define SER_PROFILE_H_

#include "tensorflow/lite/micro/micro_profiler_interface.h"

tflite::MicroProfilerInterface* SerProfiler(int piece);

// Prints each piece's invokes and each operator's count summed over them (VERIFY-PROFILE lines).
void SerProfileReport();

#define SER_PROFILER(piece) SerProfiler(piece)

#endif  // SER_PROFILE_H_
