/* sluice_plugin_util.h: small helpers for plugins written in C. C99, header-only (static
 * inline), standard headers only; include it after (or instead of) sluice_plugin.h.
 *
 *   const char* path = sluice_option_get(opts, n, "path");            NULL when absent
 *   uint64_t max = sluice_option_size(opts, n, "max_record_bytes", 1 << 20);
 *   if (!path) return sluice_error(err, err_cap, "path: %s", "required");
 *
 * Values are read as the host normalised them (see sluice_option_type): bools "true"/"false",
 * integers in decimal, durations in integer milliseconds, sizes in integer bytes. Every option
 * of the plugin's table that has a value (given or defaulted) is in the array, so a fallback is
 * used only for an option without a default that the configuration left out.
 *
 * OWNERSHIP: strings returned point into the host's option array: valid only during on_create
 * (copy what you keep). THREAD: every function is reentrant. */
#ifndef SLUICE_PLUGIN_UTIL_H_
#define SLUICE_PLUGIN_UTIL_H_

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The value of option `name`, or NULL when the array has none. */
static inline const char* sluice_option_get(const sluice_option* options, size_t count,
                                            const char* name) {
  size_t i;
  for (i = 0; i < count; ++i) {
    if (options[i].name != NULL && strcmp(options[i].name, name) == 0) return options[i].value;
  }
  return NULL;
}

/* SLUICE_OPT_BOOL: 1 for "true", 0 for "false"; `fallback` when absent. */
static inline int sluice_option_bool(const sluice_option* options, size_t count, const char* name,
                                     int fallback) {
  const char* v = sluice_option_get(options, count, name);
  if (v == NULL) return fallback;
  return strcmp(v, "true") == 0;
}

/* SLUICE_OPT_INT: the integer; `fallback` when absent. */
static inline int64_t sluice_option_int(const sluice_option* options, size_t count,
                                        const char* name, int64_t fallback) {
  const char* v = sluice_option_get(options, count, name);
  if (v == NULL || *v == '\0') return fallback;
  return (int64_t)strtoll(v, NULL, 10);
}

/* SLUICE_OPT_DURATION: milliseconds; `fallback` when absent. */
static inline uint64_t sluice_option_duration_ms(const sluice_option* options, size_t count,
                                                 const char* name, uint64_t fallback) {
  const char* v = sluice_option_get(options, count, name);
  if (v == NULL || *v == '\0') return fallback;
  return (uint64_t)strtoull(v, NULL, 10);
}

/* SLUICE_OPT_SIZE: bytes; `fallback` when absent. */
static inline uint64_t sluice_option_size(const sluice_option* options, size_t count,
                                          const char* name, uint64_t fallback) {
  const char* v = sluice_option_get(options, count, name);
  if (v == NULL || *v == '\0') return fallback;
  return (uint64_t)strtoull(v, NULL, 10);
}

/* Copies `text` into dst[0, cap), truncating, always NUL-terminated when cap > 0. */
static inline void sluice_copy_text(char* dst, size_t cap, const char* text) {
  size_t n;
  if (dst == NULL || cap == 0) return;
  n = text != NULL ? strlen(text) : 0;
  if (n > cap - 1) n = cap - 1;
  if (n > 0) memcpy(dst, text, n);
  dst[n] = '\0';
}

/* Formats a message into the host's err buffer (on_create, on_healthcheck), truncating, and
 * returns 1, so that a failure reads `return sluice_error(err, err_cap, "...", ...);`. */
static inline int sluice_error(char* err, size_t err_cap, const char* format, ...) {
  va_list args;
  if (err != NULL && err_cap > 0) {
    va_start(args, format);
    vsnprintf(err, err_cap, format, args);
    va_end(args);
    err[err_cap - 1] = '\0';
  }
  return 1;
}

/* Fills result->error_code and a formatted result->error_message (truncating) and returns
 * `code`, so that an answer reads
 * `return sluice_answer(result, SLUICE_DELIVER_RETRY, "Io.Write", "write: %s", strerror(e));`. */
static inline int sluice_answer(sluice_deliver_result* result, sluice_deliver_code code,
                                const char* error_code, const char* format, ...) {
  va_list args;
  sluice_copy_text(result->error_code, sizeof(result->error_code), error_code);
  va_start(args, format);
  vsnprintf(result->error_message, sizeof(result->error_message), format, args);
  va_end(args);
  return (int)code;
}

/* Logs one formatted line through host_log (at most 1023 bytes; NULL-safe). */
static inline void sluice_log(const sluice_host_services* host, sluice_log_level level,
                              const char* format, ...) {
  char line[1024];
  va_list args;
  int n;
  if (host == NULL || host->host_log == NULL) return;
  va_start(args, format);
  n = vsnprintf(line, sizeof(line), format, args);
  va_end(args);
  if (n < 0) return;
  host->host_log(host->host_ctx, level, line,
                 (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* Adds `delta` to the plugin counter `name` (NULL-safe). */
static inline void sluice_count(const sluice_host_services* host, const char* name,
                                uint64_t delta) {
  if (host != NULL && host->host_counter_add != NULL) {
    host->host_counter_add(host->host_ctx, name, delta);
  }
}

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_PLUGIN_UTIL_H_ */
