/* schema.h - iw_arch <-> JSON (metadata.architecture in the registry, and
 * what `inspect --json` prints).  Key names are listed in docs/registry.md.
 *
 * Writing: unknown values (IW_UNKNOWN, NAN, NULL) are omitted, never
 * invented; a sub-object (attention, moe, ssm, vision, quantization,
 * parameters, parameters.components) is omitted when all its values are
 * unknown.  Booleans are written only when true.  params_billion is computed
 * from parameters.total (rounded to 2 decimals).
 *
 * Reading is tolerant: unknown keys are ignored, JSON null means unknown, and
 * a value of the wrong type is skipped with a warning appended to
 * a->warnings ("schema: <key>: expected <type>, got <type>; ignored").
 * Computed keys (params_billion) are not read back.
 *
 * For a record produced by iw_arch_to_json, to_json(from_json(x)) == x.
 */
#ifndef IWDL_SCHEMA_H
#define IWDL_SCHEMA_H

#include <stdbool.h>
#include "arch.h"
#include "json.h"

/* New metadata.architecture object (caller owns, cJSON_Delete), or NULL
 * when out of memory (iw_error set). */
cJSON *iw_arch_to_json(const iw_arch *a);

/* Fill `a` (which must be initialised with iw_arch_init) from a
 * metadata.architecture object; keys present overwrite the fields of `a`.
 * Returns 0, IW_EINVAL if obj is not an object, IW_ENOMEM. */
int iw_arch_from_json(const cJSON *obj, iw_arch *a);

/* True when `key` is a top-level metadata.architecture key this schema
 * writes or reads (so a rewrite may replace it). */
bool iw_schema_is_known_key(const char *key);

/* New metadata.architecture for a re-extracted record `a` replacing `old`
 * (may be NULL): iw_arch_to_json(a), plus every key of `old` this schema
 * does not know (manual fields, later versions' keys), plus old.runtime when
 * `a` carries none, plus old.params_billion when a's parameters.total is
 * unknown.  Caller owns the result. */
cJSON *iw_arch_to_json_keep(const iw_arch *a, const cJSON *old);

/* Two metadata.architecture objects say the same thing, collected_at aside
 * (a re-extraction that changes nothing else is not a change). */
bool iw_arch_json_same(const cJSON *a, const cJSON *b);

#endif
