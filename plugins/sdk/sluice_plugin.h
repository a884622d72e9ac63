/* sluice_plugin.h: the sink plugin ABI of sluice. C99, standard headers only.
 *
 * This header is the ONLY thing a plugin shared object shares with the host. A plugin exports
 * one C symbol, SLUICE_PLUGIN_ENTRY_NAME, returning a static table (sluice_plugin) that
 * describes it: its ABI version, its name (the `type:` of a sink section in YAML), its kind,
 * its options, and the functions the host calls. Nothing else crosses the boundary: no C++
 * types, no exceptions, no memory allocated on one side and freed on the other.
 *
 * Naming: functions the plugin implements start `on_`; services the host lends start `host_`.
 *
 * Division of work: the host owns batching, compression, encryption, retries, back-off,
 * spill-over to the error output, checkpoints and metrics. The plugin owns encoding, sending
 * and classifying the answer of its service (ok, retry, reject, partial).
 *
 * Versioning: SLUICE_ABI_MAJOR changes only when an existing item changes meaning or layout;
 * the host refuses a plugin whose major differs from its own. SLUICE_ABI_MINOR grows when items
 * are appended: every struct starts with `struct_size`, fields are only ever appended, and a
 * reader looks at a field only if `struct_size` covers it.
 *
 * Threads: the host creates one instance per delivery worker (`concurrency` of them). Calls on
 * one instance never overlap; different instances of one plugin may run on different threads at
 * the same time. on_deliver, on_healthcheck and on_transform run on delivery worker threads,
 * never on the host's event loop, so they may block (for a network round trip, an fsync),
 * bounded by the plugin's own timeouts; on_create and on_destroy: see each.
 */
#ifndef SLUICE_PLUGIN_H_
#define SLUICE_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_ABI_MAJOR 1
#define SLUICE_ABI_MINOR 6

/* The one exported symbol, looked up with dlsym. */
#define SLUICE_PLUGIN_ENTRY_NAME "sluice_plugin_entry"

#if defined(__GNUC__)
#define SLUICE_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define SLUICE_PLUGIN_EXPORT
#endif

/* ---------------------------------------------------------------------------------------------
 * Kinds and flags
 * ------------------------------------------------------------------------------------------- */

typedef enum sluice_plugin_kind {
  /* Gets whole rendered objects: the host frames records (record_delimiter), compresses and
   * encrypts them and hands over the bytes plus the object key (file, s3). */
  SLUICE_KIND_OBJECT_SINK = 1,
  /* Gets the records themselves and encodes its own requests (http, splunk, opensearch); may
   * answer per record (SLUICE_DELIVER_PARTIAL). */
  SLUICE_KIND_RECORD_SINK = 2,
  /* A transform (ABI 1.1): gets the records of a batch before they are delivered and answers
   * each with OK (new data), DROPPED or FAILED, as Firehose's Lambda transform does. Implements
   * on_transform; on_deliver may be NULL. Named in YAML by `transform: {plugin: <name>}`. */
  SLUICE_KIND_TRANSFORM = 3
} sluice_plugin_kind;

/* sluice_plugin.flags: a bit set. */
/* After a crash the host replays a journaled batch as it was (object sinks: under the key it had;
 * record sinks: with the same record ids). Object sinks: writing the same object key twice leaves
 * one object, so a replay overwrites and each record is in one object exactly once. Record sinks:
 * the destination keeps one copy of records delivered twice with the same record_id (e.g. they
 * become its document ids). Without the flag a replay may leave a second copy. The host reports
 * which in /status (`"replay": "exactly_once"` or `"at_least_once"`) and `sluice plugin info`,
 * and logs it at start for an object sink without the flag. */
#define SLUICE_FLAG_IDEMPOTENT_KEYS 0x1u
/* The sink wants uncompressed objects even when the delivery sets a compression. */
#define SLUICE_FLAG_NO_HOST_COMPRESSION 0x2u

/* ---------------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------------- */

typedef enum sluice_option_type {
  SLUICE_OPT_STRING = 1,   /* any scalar text */
  SLUICE_OPT_INT = 2,      /* decimal integer, optional leading '-' */
  SLUICE_OPT_BOOL = 3,     /* true | false; normalised to "true"/"false" */
  SLUICE_OPT_DURATION = 4, /* "250ms", "30s", "5m"; normalised to integer milliseconds */
  SLUICE_OPT_SIZE = 5,     /* "512KiB", "5MiB", bytes; normalised to integer bytes */
  SLUICE_OPT_ENUM = 6,     /* one of sluice_option_def.enum_values */
  /* A YAML sequence or map, handed over as JSON text: a sequence as a JSON array of its items
   * (scalars as JSON strings, as written), a map as a JSON object; a scalar given where a list
   * is expected as a one-element array ("x" -> ["x"]). Parse it with any JSON reader. */
  SLUICE_OPT_LIST = 7,
  /* ABI 1.3: not a type but a flag OR-ed into one (see SLUICE_SECRET below). An enumerator,
   * so that C++ readers may hold a flagged value in this enum. */
  SLUICE_OPT_SECRET = 0x100
} sluice_option_type;

/* ABI 1.3: OR into sluice_option_def.type to declare the value a secret, whatever the option's
 * name: the host never echoes it in messages, accepts `<name>_file` (a file others cannot read)
 * and `<name>_env` in its place, and refuses it written inline in a configuration file others
 * can read. E.g. {"dsn", SLUICE_SECRET(SLUICE_OPT_STRING), ...}. A host before 1.3 refuses the
 * table ("unknown option type"). */
#define SLUICE_SECRET(type) ((sluice_option_type)((type) | SLUICE_OPT_SECRET))

/* One option the plugin accepts, in a table ending with an entry whose name is NULL.
 * OWNERSHIP: plugin; static storage, valid while the plugin is loaded.
 * Host-read options: an object sink that declares options named `prefix` and `error_prefix`
 * (SLUICE_OPT_STRING) gets object keys rendered from them by the host (!{timestamp:...},
 * !{firehose:...}, !{partitionKeyFrom...:...}); the values reach the plugin too, but the keys in
 * sluice_batch.object_key are already rendered. `sluice check` checks them as templates.
 * Secrets: an option is a secret when its type carries SLUICE_SECRET (above); the host does not
 * guess from its name. (The configuration loader, which reads the file before any plugin is
 * loaded, also resolves `<key>_file` / `<key>_env` and refuses inline values in a file others
 * can read for keys named like secrets, e.g. password, token, secret_access_key; declare such
 * options SLUICE_SECRET so that the host treats them alike.) */
typedef struct sluice_option_def {
  const char* name;          /* snake_case key in the sink section */
  sluice_option_type type;   /* how the host validates and normalises the value */
  const char* default_value; /* applied when absent; NULL: no default */
  const char* doc;           /* one line for the generated reference */
  int required;              /* non-zero: absence is a configuration error */
  const char* enum_values;   /* SLUICE_OPT_ENUM only: "a|b|c"; NULL otherwise */
} sluice_option_def;

/* One validated option value handed to on_create. Every option of the table that has a value
 * (given or defaulted) appears exactly once, in table order.
 * OWNERSHIP: host; valid only during the on_create call (copy what you keep). */
typedef struct sluice_option {
  const char* name;  /* NUL-terminated */
  const char* value; /* NUL-terminated, normalised as sluice_option_type says */
} sluice_option;

/* ---------------------------------------------------------------------------------------------
 * Host services, lent to the plugin at create
 * ------------------------------------------------------------------------------------------- */

typedef enum sluice_log_level {
  SLUICE_LOG_DEBUG = 0,
  SLUICE_LOG_INFO = 1,
  SLUICE_LOG_WARN = 2,
  SLUICE_LOG_ERROR = 3
} sluice_log_level;

/* Codecs the host lends through host_compress (ABI 1.2). */
typedef enum sluice_codec {
  /* One RFC 1952 gzip member, written by the host's fastest writer (ISA-L igzip, level 1: the
   * writer of delivered objects), which any gzip reader takes. */
  SLUICE_CODEC_GZIP = 1
} sluice_codec;

/* Append-only: new services are added at the end and announced by struct_size.
 * OWNERSHIP: host; the struct and host_ctx stay valid until on_destroy of the instance returns.
 * THREAD: every host_ function is thread-safe and may be called from any plugin call. */
typedef struct sluice_host_services {
  uint32_t struct_size;
  uint32_t abi_minor; /* the host's SLUICE_ABI_MINOR */
  void* host_ctx;     /* pass back as the first argument of every host_ function */
  /* Writes one log line attributed to the delivery stream. `msg` need not be NUL-terminated.
   * Never pass secrets. Returns nothing. */
  void (*host_log)(void* host_ctx, sluice_log_level level, const char* msg, size_t msg_len);
  /* Adds `delta` to the plugin counter `name` (NUL-terminated, snake_case), exported in
   * /metrics as sluice_delivery_plugin_counter{delivery_stream="<delivery>",counter="<name>"}.
   * Returns nothing. */
  void (*host_counter_add)(void* host_ctx, const char* name, uint64_t delta);
  /* Since ABI 1.2 (read only when struct_size covers it). An upper bound of what
   * host_compress writes for `in_len` bytes of input. Returns 0 for a codec the host does not
   * know. */
  size_t (*host_compress_bound)(void* host_ctx, sluice_codec codec, size_t in_len);
  /* Since ABI 1.2. Compresses in[0, in_len) with `codec` into out[0, out_cap). Meant for
   * request bodies (http, opensearch, splunk): object sinks get their bytes already encoded.
   * OWNERSHIP: both buffers are the caller's; nothing is kept after the call.
   * Returns the number of bytes written to `out`, or 0 when the codec is unknown, out_cap is
   * below host_compress_bound(in_len) or in_len is over 2 GiB. */
  size_t (*host_compress)(void* host_ctx, sluice_codec codec, const void* in, size_t in_len,
                          void* out, size_t out_cap);
} sluice_host_services;

/* ---------------------------------------------------------------------------------------------
 * Delivery
 * ------------------------------------------------------------------------------------------- */

/* One record for a record sink.
 * OWNERSHIP: host; valid only during the on_deliver call. */
typedef struct sluice_record {
  const uint8_t* data;
  size_t len;
  int64_t arrival_ms; /* approximate arrival time, ms since the Unix epoch */
  /* "<shard>-<offset>": the record's position in the stream the delivery reads. Stable across
   * retries and across the replay of a journaled batch after a crash: use it as a document id or
   * for de-duplication of what the host sends twice. Its scope is the stream: a line the agent
   * reads a second time (after a kill between putting it and writing its file checkpoint) is a
   * second record with its own id. NUL-terminated. */
  const char* record_id;
} sluice_record;

/* What to deliver.
 * OWNERSHIP: host; everything pointed to is valid only during the on_deliver call. */
typedef struct sluice_batch {
  uint32_t struct_size;
  uint32_t attempt; /* 1 for the first attempt of this batch, 2 for its first retry, ... */
  /* Identifies the batch; the same across retries and after a crash. NUL-terminated. */
  const char* batch_id;
  /* SLUICE_KIND_OBJECT_SINK: the object key (prefix + name + extension), NUL-terminated, and
   * the rendered object bytes. Record fields are NULL/0. */
  const char* object_key;
  const uint8_t* object_data;
  size_t object_len;
  /* "" (none), "gzip", "zip", "snappy", "hadoop_snappy": what the host applied; "encrypted"
   * when the host envelope-encrypted the object (after any compression): opaque bytes that no
   * HTTP client may decode, to be stored as application/octet-stream. */
  const char* content_encoding;
  /* SLUICE_KIND_RECORD_SINK: the records still to deliver (on a retry after a partial answer,
   * only the ones that failed). Object fields are NULL/0. */
  const sluice_record* records;
  size_t record_count;
  /* Since ABI 1.3 (read only when struct_size covers it). When content_encoding is
   * "encrypted": the id of the master key the object's data key is wrapped with (from the
   * delivery's keyring), for the object's metadata so an operator can tell which key opens
   * it; "" otherwise. NUL-terminated; never NULL from a 1.3 host. */
  const char* key_id;
  /* Since ABI 1.5 (read only when struct_size covers it). SLUICE_KIND_RECORD_SINK: each record's
   * partition key in the stream the delivery reads, parallel to `records` (partition_keys[i] is
   * records[i]'s), NUL-terminated; a record a transform made keeps its source record's key. For
   * a sink that feeds another keyed stream (Kinesis, Kafka) so that records keep their order per
   * key. NULL for object sinks. */
  const char* const* partition_keys;
} sluice_batch;

typedef enum sluice_deliver_code {
  SLUICE_DELIVER_OK = 0,     /* everything was accepted */
  SLUICE_DELIVER_RETRY = 1,  /* transient: the host retries after back-off (or retry_after_ms) */
  SLUICE_DELIVER_REJECT = 2, /* permanent: the host sends the batch to the error output */
  SLUICE_DELIVER_PARTIAL = 3 /* record sinks only: see sluice_deliver_result.outcomes */
} sluice_deliver_code;

/* The outcome of one record in a partial answer. */
typedef struct sluice_record_outcome {
  int32_t code;            /* SLUICE_DELIVER_OK, _RETRY or _REJECT */
  uint32_t retry_after_ms; /* RETRY: the least wait the service asked for; 0: host back-off */
  /* REJECT/RETRY: why, NUL-terminated; NULL for none. OWNERSHIP: plugin; must stay valid until
   * the next call on this instance (the host copies it before then). */
  const char* reason;
} sluice_record_outcome;

/* Filled by on_deliver.
 * OWNERSHIP: host; the struct and `outcomes` are host memory, valid during the call. The host
 * zeroes everything but struct_size and outcomes before each call, and fills every outcome with
 * code -1 (unset). After PARTIAL, an outcome still unset, or with a code other than OK, RETRY or
 * REJECT, is the plugin's error: the record is retried (never counted delivered), the attempt's
 * error code is Plugin.BadPartial, and sluice_delivery_plugin_bad_outcomes_total counts it. */
typedef struct sluice_deliver_result {
  uint32_t struct_size;
  uint32_t retry_after_ms; /* RETRY: the least wait the service asked for (Retry-After) */
  char error_code[64];     /* RETRY/REJECT: a short code, e.g. "Http.503"; NUL-terminated */
  char error_message[512]; /* RETRY/REJECT: a readable message; NUL-terminated, may truncate */
  /* PARTIAL: an array of sluice_batch.record_count entries, one per record in order, for the
   * plugin to fill. NULL for object sinks. */
  sluice_record_outcome* outcomes;
  /* Since ABI 1.6 (written only when struct_size covers it). RETRY of an object sink: 1 when
   * the request reached the service and its answer was lost (the connection reset or timed out
   * after the request was sent), so the object may be stored; 0 when it is known not to be (the
   * connection was refused, the service answered an error). A batch once answered so is retried
   * past retry_duration, up to the sink type's most, rather than spilled while it may be in the
   * sink (its key is the same, so a later upload replaces the object). */
  uint32_t maybe_delivered;
} sluice_deliver_result;

/* ---------------------------------------------------------------------------------------------
 * Transform (ABI 1.1)
 * ------------------------------------------------------------------------------------------- */

typedef enum sluice_transform_code {
  SLUICE_TRANSFORM_OK = 0,      /* the record is replaced by data/len (which may equal the input) */
  SLUICE_TRANSFORM_DROPPED = 1, /* the record is dropped on purpose (counted, not an error) */
  SLUICE_TRANSFORM_FAILED = 2   /* the record goes to the error output as processing-failed */
} sluice_transform_code;

/* The answer for one record, filled by on_transform.
 * OWNERSHIP: the struct is host memory; `data` and `reason` are plugin memory that must stay
 * valid until the next call on this instance (the host copies them before then). */
typedef struct sluice_transform_output {
  int32_t code;        /* sluice_transform_code */
  const uint8_t* data; /* OK: the new record */
  size_t len;
  const char* reason; /* FAILED: why, NUL-terminated; NULL for none */
} sluice_transform_output;

/* ---------------------------------------------------------------------------------------------
 * The plugin table
 * ------------------------------------------------------------------------------------------- */

typedef struct sluice_plugin {
  uint32_t struct_size;             /* sizeof(sluice_plugin) as the plugin was built */
  uint32_t abi_major;               /* SLUICE_ABI_MAJOR the plugin was built with */
  uint32_t abi_minor;               /* SLUICE_ABI_MINOR the plugin was built with */
  uint32_t kind;                    /* sluice_plugin_kind */
  uint32_t flags;                   /* SLUICE_FLAG_* */
  const char* name;                 /* the sink type in YAML: [a-z0-9_]+, NUL-terminated */
  const char* version;              /* the plugin's own version, free text */
  const char* doc;                  /* one paragraph for the generated reference */
  const sluice_option_def* options; /* NULL-name-terminated; may be NULL for none */

  /* Creates an instance from validated options.
   * OWNERSHIP: `host` and `options` are host memory (see their types). On success *instance
   * is plugin memory, released only by on_destroy. On failure the plugin writes a NUL-terminated
   * message of at most err_cap bytes (truncating) to `err` and sets nothing else.
   * THREAD: the thread that starts deliveries (the daemon's main thread, at start and on reload),
   * one on_create at a time for the whole host; other instances of the same plugin may be in
   * on_deliver on worker threads meanwhile. A slow on_create delays the start or the reload.
   * RETURNS: 0 on success; non-zero on failure (the delivery stream fails to start). */
  int (*on_create)(const sluice_host_services* host, const sluice_option* options,
                   size_t option_count, void** instance, char* err, size_t err_cap);

  /* Delivers one batch.
   * OWNERSHIP: `batch` and `result` are host memory valid during the call.
   * THREAD: a delivery worker; never concurrently on the same instance; may block.
   * RETURNS: a sluice_deliver_code. OK: the whole batch is delivered. RETRY: nothing is known to
   * be delivered; the host retries the whole batch. REJECT: the batch can never be delivered;
   * the host writes it to the error output with result->error_code/message. PARTIAL (record
   * sinks): result->outcomes says, per record, OK, RETRY or REJECT; the host retries only the
   * RETRY ones and spills the REJECT ones. */
  int (*on_deliver)(void* instance, const sluice_batch* batch, sluice_deliver_result* result);

  /* Checks that the destination is reachable and usable. May be NULL. The host calls it once
   * when a delivery starts and, while deliveries keep failing, at most every 30 s between
   * retries; an unhealthy answer shows in /health and /status (`plugin_health`) until a delivery
   * succeeds or the check passes.
   * OWNERSHIP: as on_create's err.
   * THREAD: as on_deliver (never concurrently with on_deliver on the same instance).
   * RETURNS: 0 when healthy; non-zero with a message in `err` otherwise. */
  int (*on_healthcheck)(void* instance, char* err, size_t err_cap);

  /* Releases an instance made by on_create. After it returns the host never uses `instance`
   * or the instance's host services again.
   * THREAD: the thread that owns the instance, after its last on_deliver. */
  void (*on_destroy)(void* instance);

} sluice_plugin;

/* ABI 1.3: the delivery policy a sink declares: Firehose's buffering hints and retry duration for
 * its destination, which the host applies to every delivery using the sink (defaults when the
 * configuration leaves them unset, ranges that `sluice check` enforces with the position of the
 * offending key). A sink that declares none gets S3's (1-128 MiB, default 5 MiB; 0-900 s,
 * default 300 s; retries up to 24 h, default 24 h) and the error output type "<name>-failed".
 * OWNERSHIP: plugin; static storage, valid while the plugin is loaded.
 * The host refuses to load a plugin whose policy is inconsistent (min > default, default > max,
 * a zero buffer size, an empty error output type). */
typedef struct sluice_delivery_policy {
  uint32_t struct_size;     /* sizeof(sluice_delivery_policy) as the plugin was built */
  uint32_t reserved;        /* 0 */
  uint64_t buffer_size_min; /* bytes, before compression */
  uint64_t buffer_size_default;
  uint64_t buffer_size_max;
  uint64_t buffer_interval_min_ms;
  uint64_t buffer_interval_default_ms;
  uint64_t buffer_interval_max_ms;
  uint64_t retry_duration_default_ms; /* how long failed batches are retried before spilling */
  uint64_t retry_duration_max_ms;
  /* The !{firehose:error-output-type} value and the errorCode family of spilled records, e.g.
   * "http-endpoint-failed"; NUL-terminated, [A-Za-z0-9-]+. */
  const char* error_output_type;
  /* ABI 1.4: how long one on_deliver call may run before the host marks the delivery degraded
   * (and, under `isolation: process`, kills the plugin's child process); 0: the host's default,
   * 10 minutes. `sink.call_timeout` in the configuration overrides it. */
  uint64_t call_timeout_ms;
} sluice_delivery_policy;

/* ABI 1.3: the table of a sink (SLUICE_KIND_OBJECT_SINK or SLUICE_KIND_RECORD_SINK). It starts
 * with the common table, whose struct_size is sizeof(sluice_sink_plugin); the entry point returns
 * &table.base. The host reads `policy` only when base.struct_size covers it; a sink built
 * against ABI 1.0-1.2 returns a bare sluice_plugin and gets the default policy. */
typedef struct sluice_sink_plugin {
  sluice_plugin base;
  const sluice_delivery_policy* policy; /* NULL: the default policy */
} sluice_sink_plugin;

/* ABI 1.1: the table of a SLUICE_KIND_TRANSFORM plugin. It starts with the common table, whose
 * struct_size is sizeof(sluice_transform_plugin); the entry point returns &table.base and the
 * host reads the rest only when base.kind is SLUICE_KIND_TRANSFORM and struct_size covers it.
 * base.on_deliver may be NULL. */
typedef struct sluice_transform_plugin {
  sluice_plugin base;
  /* Transforms `count` records, filling outputs[i] for each.
   * OWNERSHIP: `records` and `outputs` are host memory valid during the call; see
   * sluice_transform_output for what the plugin points to.
   * THREAD: a delivery worker; never concurrently on the same instance; may block.
   * RETURNS: 0 when every output is filled; non-zero when the invocation failed as a whole (the
   * host retries it, then sends every record to the error output as processing-failed). */
  int (*on_transform)(void* instance, const sluice_record* records, size_t count,
                      sluice_transform_output* outputs);
} sluice_transform_plugin;

/* The entry point every plugin exports (SLUICE_PLUGIN_ENTRY_NAME).
 * `host_abi_major`/`host_abi_minor` are the host's version.
 * OWNERSHIP: the returned table is static plugin memory, valid while the .so is loaded.
 * THREAD: called once, right after dlopen, on a non-loop thread.
 * RETURNS: the table, or NULL when the plugin cannot serve this host (the host reports it). */
typedef const sluice_plugin* (*sluice_plugin_entry_fn)(uint32_t host_abi_major,
                                                       uint32_t host_abi_minor);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_PLUGIN_H_ */
