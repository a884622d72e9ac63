/* c_sink: a record sink in plain C99, built against the installed SDK (sluice_plugin.h and the
 * helpers of sluice_plugin_util.h). It appends each record, one per line, to the file named by
 * the option `path`:
 *
 *   sink: {type: c_sink, path: /var/lib/out.log, timestamps: true, line_limit: 1000000}
 *
 * - records longer than `max_record_bytes` are rejected one by one (a PARTIAL answer: every
 *   outcome is filled, the others are OK), so they reach the delivery's error output;
 * - once `line_limit` lines are written (0: no limit) further records are rejected too;
 * - a failed write answers RETRY after `retry_after`, and the host sends the batch again;
 * - counters `lines_written` and `records_rejected` appear in /metrics;
 * - the delivery policy (ABI 1.3, with the call timeout of ABI 1.4) bounds the buffering a
 *   configuration may ask for.
 * Every call on one instance comes from one delivery worker, never two at a time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice_plugin_util.h"

typedef struct {
  FILE* out;
  char path[1024];
  uint64_t max_record_bytes;
  int timestamps;
  int64_t line_limit;
  int64_t lines;
  uint64_t retry_after_ms;
  const sluice_host_services* host;
} c_sink;

static const sluice_option_def kOptions[] = {
    {"path", SLUICE_OPT_STRING, NULL, "File the records are appended to, one per line.", 1, NULL},
    {"max_record_bytes", SLUICE_OPT_SIZE, "1MiB", "Longer records go to the error output.", 0,
     NULL},
    {"timestamps", SLUICE_OPT_BOOL, "false",
     "Start each line with the arrival time (ms) and a tab.", 0, NULL},
    {"line_limit", SLUICE_OPT_INT, "0",
     "Lines to write at most; later records are rejected (0: no "
     "limit).",
     0, NULL},
    {"retry_after", SLUICE_OPT_DURATION, "1s", "Wait asked of the host after a failed write.", 0,
     NULL},
    {NULL, SLUICE_OPT_STRING, NULL, NULL, 0, NULL},
};

static int create(const sluice_host_services* host, const sluice_option* options, size_t count,
                  void** instance, char* err, size_t err_cap) {
  const char* path = sluice_option_get(options, count, "path"); /* required: never NULL */
  c_sink* s;
  if (strlen(path) >= sizeof(s->path)) return sluice_error(err, err_cap, "path: too long");
  s = (c_sink*)calloc(1, sizeof(c_sink));
  if (s == NULL) return sluice_error(err, err_cap, "out of memory");
  sluice_copy_text(s->path, sizeof(s->path), path);
  s->out = fopen(path, "ab");
  if (s->out == NULL) {
    int e = errno;
    free(s);
    return sluice_error(err, err_cap, "path: cannot open %s: %s", path, strerror(e));
  }
  s->max_record_bytes = sluice_option_size(options, count, "max_record_bytes", 1u << 20);
  s->timestamps = sluice_option_bool(options, count, "timestamps", 0);
  s->line_limit = sluice_option_int(options, count, "line_limit", 0);
  if (s->line_limit < 0) {
    fclose(s->out);
    free(s);
    return sluice_error(err, err_cap, "line_limit: must be 0 or more");
  }
  s->retry_after_ms = sluice_option_duration_ms(options, count, "retry_after", 1000);
  s->host = host;
  sluice_log(host, SLUICE_LOG_INFO, "c_sink: appending to %s", s->path);
  *instance = s;
  return 0;
}

static int deliver(void* instance, const sluice_batch* batch, sluice_deliver_result* result) {
  c_sink* s = (c_sink*)instance;
  size_t i, written = 0, rejected = 0;
  for (i = 0; i < batch->record_count; ++i) {
    const sluice_record* r = &batch->records[i];
    sluice_record_outcome* o = &result->outcomes[i];
    if (r->len > s->max_record_bytes) {
      o->code = SLUICE_DELIVER_REJECT;
      o->reason = "longer than max_record_bytes";
      ++rejected;
      continue;
    }
    if (s->line_limit > 0 && s->lines >= s->line_limit) {
      o->code = SLUICE_DELIVER_REJECT;
      o->reason = "line_limit reached";
      ++rejected;
      continue;
    }
    if ((s->timestamps && fprintf(s->out, "%lld\t", (long long)r->arrival_ms) < 0) ||
        fwrite(r->data, 1, r->len, s->out) != r->len || fputc('\n', s->out) == EOF) {
      /* Nothing is known to be delivered: the whole batch is retried (lines written before
       * the failure may be written twice; record_id would let a reader de-duplicate). */
      result->retry_after_ms = (uint32_t)s->retry_after_ms;
      return sluice_answer(result, SLUICE_DELIVER_RETRY, "CSink.Write", "%s: %s", s->path,
                           strerror(errno));
    }
    o->code = SLUICE_DELIVER_OK;
    ++s->lines;
    ++written;
  }
  if (fflush(s->out) != 0) {
    result->retry_after_ms = (uint32_t)s->retry_after_ms;
    return sluice_answer(result, SLUICE_DELIVER_RETRY, "CSink.Flush", "%s: %s", s->path,
                         strerror(errno));
  }
  sluice_count(s->host, "lines_written", written);
  if (rejected == 0) return SLUICE_DELIVER_OK;
  sluice_count(s->host, "records_rejected", rejected);
  return SLUICE_DELIVER_PARTIAL; /* every outcome is filled above */
}

static int healthcheck(void* instance, char* err, size_t err_cap) {
  c_sink* s = (c_sink*)instance;
  if (ferror(s->out)) return sluice_error(err, err_cap, "%s: a write failed", s->path);
  return 0;
}

static void destroy(void* instance) {
  c_sink* s = (c_sink*)instance;
  fclose(s->out);
  free(s);
}

/* The delivery policy: buffer 1KiB..16MiB (default 1MiB), interval 0s..1m (default 5s), retries
 * for 1m by default and 10m at most, spilled records under c-sink-failed/, and one on_deliver
 * may run for 30s before the host marks the delivery stuck (ABI 1.4). */
static const sluice_delivery_policy kPolicy = {
    sizeof(sluice_delivery_policy),
    0,
    1024,
    1 << 20,
    16 << 20,
    0,
    5000,
    60000,
    60000,
    600000,
    "c-sink-failed",
    30000,
};

static const sluice_sink_plugin kTable = {
    {sizeof(sluice_sink_plugin), SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR, SLUICE_KIND_RECORD_SINK, 0,
     "c_sink", "1.0", "Appends records, one per line, to a file (the C example of the SDK).",
     kOptions, create, deliver, healthcheck, destroy},
    &kPolicy,
};

/* Returns the table to a host of the same ABI major; NULL (refused, with a message) otherwise. */
SLUICE_PLUGIN_EXPORT const sluice_plugin* sluice_plugin_entry(uint32_t host_abi_major,
                                                              uint32_t host_abi_minor) {
  (void)host_abi_minor;
  return host_abi_major == SLUICE_ABI_MAJOR ? &kTable.base : NULL;
}
