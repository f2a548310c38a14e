// What the board gives the application loop and what the loop gives back, for both deployments
// (ser_app.h: the model once per window; ser_stream_app.h: the streaming pieces). The template's
// main file includes the deployment's header, which includes this one.
// Copied into every bundle by ser-reparam (firmware_export/bundle/ser_board.h). Do not edit.
#ifndef SER_BOARD_H_
#define SER_BOARD_H_

#include <cstdint>
#include <cstdio>

// A profile build (ser-reparam profile-firmware, -DSER_PROFILE) gives each interpreter a
// per-operator profiler; a bundle's own build gives none.
#ifdef SER_PROFILE
#include "ser_profile.h"
#else
#define SER_PROFILER(piece) nullptr
#endif

// What the board provides besides the microphone.
struct SerBoard {
  uint32_t (*micros)();  // a microsecond clock (wrapping is fine: only differences are used)
  // The int8 features the model reads, as soon as they exist: the whole window (whole-window
  // deployment, called before Invoke, which may reuse the input's memory) or each new frame
  // (streaming); nullptr: not needed.
  void (*features)(const int8_t* features, int count);
};

// One label's outcome.
struct SerResult {
  int label;               // index into kSerLabels
  float logit;             // the label's logit, dequantized
  const int8_t* logits;    // all kSerNumClasses int8 logits
  bool streaming;          // which deployment filled it (how to read the times below)
  uint32_t frontend_us;    // whole window: the front end's finish step; streaming: the front end's
                           // time over the hops since the previous label
  uint32_t step_us;        // streaming: the encoder step piece, mean per step since the previous label
  int steps;               // streaming: steps the step piece ran since the previous label
  uint32_t model_us;       // whole window: Invoke; streaming: attend over every chunk + classify (the label)
};

// The label (argmax) and its dequantized logit of `count` int8 logits.
inline void SerSetLabel(SerResult* r, const int8_t* logits, int count, float scale, int zero_point) {
  int best = 0;
  for (int c = 1; c < count; ++c) {
    if (logits[c] > logits[best]) best = c;
  }
  r->label = best;
  r->logit = scale * (logits[best] - zero_point);
  r->logits = logits;
}

// The result's times as one line of text (what the templates print).
inline int SerLatencyText(const SerResult& r, char* text, int size) {
  if (!r.streaming) {
    return snprintf(text, static_cast<size_t>(size), "front end %lu us, model %lu us",
                    static_cast<unsigned long>(r.frontend_us), static_cast<unsigned long>(r.model_us));
  }
  return snprintf(text, static_cast<size_t>(size), "front end %lu us, step %lu us x %d, label %lu us",
                  static_cast<unsigned long>(r.frontend_us), static_cast<unsigned long>(r.step_us), r.steps,
                  static_cast<unsigned long>(r.model_us));
}

#endif  // SER_BOARD_H_
