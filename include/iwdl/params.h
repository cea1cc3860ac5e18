/* params.h - parameter counts without tensor headers: the formula over the
 * architecture (src/extract/params.c) and the size written in a model's
 * name (src/extract/namesize.c). */
#ifndef IWDL_PARAMS_H
#define IWDL_PARAMS_H

#include <stdbool.h>
#include <stdint.h>
#include "arch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parameter count from architecture fields (parameters.source = "formula").
 * Fills total/active/embedding and components when the fields suffice. */
int iw_params_formula(iw_arch *a);

/* Parse a size written in a model name: "7B" -> 7e9, "20.9B" -> 20.9e9,
 * "8x7B" -> 56e9 (total, *active_out = IW_UNKNOWN), "30B-A3B" -> 30e9 with
 * *active_out = 3e9, "350M" -> 350e6.  Returns false when none is found. */
bool iw_parse_size_from_name(const char *name, int64_t *total_out, int64_t *active_out);

#ifdef __cplusplus
}
#endif
#endif
