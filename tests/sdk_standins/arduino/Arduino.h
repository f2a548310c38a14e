/* stand-in: the Arduino core API the sketch uses (see README.md) */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <string.h>
unsigned long micros(void);
void noInterrupts(void);
void interrupts(void);
class Print {
 public:
  size_t print(const char*);
  size_t print(unsigned long, int base = 10);
  size_t print(double, int digits = 2);
  size_t println(const char*);
  size_t println(unsigned long, int base = 10);
};
class Stream : public Print {
 public:
  size_t readBytes(char* buffer, size_t length);
};
class HardwareSerialStandIn : public Stream {
 public:
  void begin(unsigned long baud);
  explicit operator bool();
};
extern HardwareSerialStandIn Serial;
