// The streaming application loop every template runs when the bundle streams (ESP-IDF, Arduino,
// CMake for Cortex-M; the same calls as ser_app.h, so the templates' main files serve both):
// microphone → front end per hop → the encoder piece step every SER_STEP_FRAMES feature frames →
// every kSerLabelHopFrames frames, once a window has arrived, a label over the last window
// (sliding windows): attend over the window's query chunks, their mean, classify.
//
//   SerAppBegin(arena, &frontend, board);             // once; nullptr when ready
//   for each hop of SER_HOP_SAMPLES samples read from the microphone:
//     if (SerAppPushHop(hop)) SerAppClassify(&result);  // a label is due
//
// The three pieces' interpreters share ONE arena of kTensorArenaSize bytes through one
// tflite::MicroAllocator (TFLM's multi-tenant allocation: each piece's persistent data at the
// arena's tail, the non-persistent tensors of all of them in one shared head). That is safe
// because the pieces run one after another and the application fills a piece's inputs right
// before its Invoke and copies its outputs out right after it. Between pieces the application
// holds int8 values: the last SER_STEP_CONTEXT frames and the window's x / k / v per step
// (already requantized to attend's input scales), placed with the arena (section .bss.ser_arena).
//
// A label equals the whole-window model's on the same int8 feature frames of that window (the
// test `ser-reparam verify-firmware` runs: logits bit-identical to the Python TFLM pieces). The
// frames themselves come from the streaming front end, which computes every frame's deltas from
// its real neighbours in the stream; a window whose audio is cut out on its own (the whole-window
// firmware) repeats its edge frames instead, so its first and last 2 * SER_DELTA_WINDOW frames'
// deltas differ from the streamed ones — except at the start of the stream, where both repeat the
// first frame.
//
// Copied into streaming bundles by ser-reparam (firmware_export/bundle/ser_stream_app.h). Do not edit.
#ifndef SER_STREAM_APP_H_
#define SER_STREAM_APP_H_

#include <cstddef>
#include <cstdint>

#include "ser_board.h"
#include "ser_frontend_stream.h"

using SerFrontendState = ser_stream_t;  // what the template declares for the front end

// Registers the pieces' operators, builds their interpreters over `arena` (kTensorArenaSize
// bytes, 16-byte aligned, shared), allocates their tensors, checks their shapes against
// model_settings.h and resets the state and `frontend`. nullptr when ready, else what failed.
const char* SerAppBegin(uint8_t* arena, SerFrontendState* frontend, const SerBoard& board);

// Bytes of the shared arena the pieces use (after SerAppBegin).
size_t SerAppArenaUsedBytes();

// Feeds one hop (SER_HOP_SAMPLES samples, 16 kHz mono) to the front end and every feature frame
// it completes to SerAppPushFrame; true when a label is due: call SerAppClassify before the next hop.
bool SerAppPushHop(const int16_t* hop);

// The model side: one int8 feature frame (kSerNumFeatures values in step's input scale). Runs step when
// a step's frames are complete; true when a label is due.
bool SerAppPushFrame(const int8_t* frame);

// attend over the last window's query chunks (in window order), the mean of their outputs, classify: fills
// `result`; false when an Invoke (or the front end, since the last label) failed. The stream goes on (the next label comes
// kSerLabelHopFrames frames later).
bool SerAppClassify(SerResult* result);

#endif  // SER_STREAM_APP_H_
