/* stand-in: ESP-IDF esp_log.h / esp_err.h (see ../README.md) */
#pragma once
#include <stdint.h>
typedef int esp_err_t;
#define ESP_OK 0
void esp_error_check_failed(esp_err_t rc, const char* file, int line, const char* function, const char* expression);
#define ESP_ERROR_CHECK(x) do { esp_err_t err_rc_ = (x); if (err_rc_ != ESP_OK) esp_error_check_failed(err_rc_, __FILE__, __LINE__, __func__, #x); } while (0)
