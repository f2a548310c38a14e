/* stand-in: FreeRTOS.h as ESP-IDF ships it (see ../README.md) */
#pragma once
#include <stdint.h>
typedef uint32_t TickType_t;
#define portMAX_DELAY ((TickType_t)0xffffffffUL)
