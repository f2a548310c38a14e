/* stand-in: Arduino Mbed OS core, libraries/PDM/src/PDM.h (see README.md) */
#pragma once
#include <Arduino.h>
class PDMClass {
 public:
  int begin(int channels, int sampleRate);
  void end();
  int available();
  int read(void* buffer, size_t size);
  void onReceive(void (*)(void));
  void setGain(int gain);
  void setBufferSize(int bufferSize);
};
extern PDMClass PDM;
