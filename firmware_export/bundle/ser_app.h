// The application loop every template runs (ESP-IDF, Arduino, CMake for Cortex-M): microphone →
// front end per hop → model once per window. The template's main file brings only the board's
// part — the microphone, a microsecond clock, where the results go — and calls these in order:
//
//   SerAppBegin(arena, &frontend, board);             // once; nullptr when ready
//   for each hop of SER_HOP_SAMPLES samples read from the microphone:
//     if (SerAppPushHop(hop)) SerAppClassify(&result);  // a window is complete
//
// Copied into every bundle by ser-reparam (firmware_export/bundle/ser_app.h). Do not edit.
#ifndef SER_APP_H_
#define SER_APP_H_

#include <cstddef>
#include <cstdint>

#include "ser_board.h"
#include "ser_frontend.h"

using SerFrontendState = ser_frontend_t;  // what the template declares for the front end

// Registers the model's operators, builds the interpreter over `arena` (kTensorArenaSize bytes,
// 16-byte aligned) and allocates its tensors, and resets `frontend`. nullptr when ready, else
// what failed.
const char* SerAppBegin(uint8_t* arena, SerFrontendState* frontend, const SerBoard& board);

// Bytes of the arena the model's tensors use (after SerAppBegin).
size_t SerAppArenaUsedBytes();

// Feeds one hop (SER_HOP_SAMPLES samples, 16 kHz mono) to the front end; true when it completes
// a window: call SerAppClassify before the next hop.
bool SerAppPushHop(const int16_t* hop);

// Runs the model on the completed window, fills `result` and starts the next window; false when
// Invoke failed.
bool SerAppClassify(SerResult* result);

#endif  // SER_APP_H_
