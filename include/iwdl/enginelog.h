/* enginelog.h - engine start-up logs read into measured starts.
 *
 * vLLM prints what it allocated while it starts (model weights, non-torch
 * memory, activation peak, the memory left for the KV cache and its size in
 * tokens or blocks, CUDA graphs), next to the settings it runs with;
 * llama.cpp (and Ollama, which runs it) prints its buffers (model, KV,
 * compute, output) with n_ctx, the sequences and the batch sizes.  This
 * reader turns a log into one JSON object per start-up:
 *
 *   {"engine": "vllm" | "llama.cpp", "engine_version": "0.19.0" (vLLM),
 *    "model": "<model path or repo the log names>", "served_name": "...",
 *    "observed_at": "<ISO-8601 when the log has full timestamps>",
 *    "settings": {...}, "measured": {...}, "resolution": {...},
 *    "source": {"file": "<name given>", "line": <first line of the start>}}
 *
 * measured holds bytes (per GPU for vLLM; GPU buffers summed over devices
 * for llama.cpp) and resolution the bytes of the last digit the log printed
 * for each figure (a "12.56 GiB" figure is known to 0.01 GiB).  The keys
 * and the lines each comes from are listed in docs/registry.md ("Measured
 * starts").
 *
 * The text comes from outside: lines longer than IW_ENGINE_LOG_MAX_LINE are
 * skipped and counted; a file larger than IW_ENGINE_LOG_MAX_BYTES, a NUL
 * byte, more than IW_ENGINE_LOG_MAX_STARTS start-ups, or a recognised line
 * whose figure is not a number in range is an error "<name>:<line>: ..."
 * (one line).  Lines that are not recognised are ignored.
 */
#ifndef IWDL_ENGINELOG_H
#define IWDL_ENGINELOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;   /* the starts are a cJSON array: include iwdl/json.h to use them */

#define IW_ENGINE_LOG_MAX_LINE    65536u
#define IW_ENGINE_LOG_MAX_BYTES   (256u * 1024u * 1024u)
#define IW_ENGINE_LOG_MAX_STARTS  256u
#define IW_ENGINE_LOG_MAX_FIELD   1024u     /* model paths and names longer than this are cut */

typedef struct iw_engine_log_report {
    size_t lines;        /* lines read */
    size_t long_lines;   /* lines over IW_ENGINE_LOG_MAX_LINE, skipped */
    size_t starts;       /* start-ups with at least one measured figure */
    size_t empty_starts; /* start-ups the log begins but never measures (dropped) */
} iw_engine_log_report;

/* Parse `len` bytes of log text; `name` names the source in errors and in
 * each start's source.file.  *starts = a new array (caller frees), in log
 * order.  rep may be NULL. */
int iw_engine_log_parse(const char *text, size_t len, const char *name, struct cJSON **starts, iw_engine_log_report *rep);

/* Read and parse a file (source.file = the path as given). */
int iw_engine_log_read(const char *path, struct cJSON **starts, iw_engine_log_report *rep);

#endif
