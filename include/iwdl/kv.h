/* kv.h - KV cache bytes per token of a model record (src/extract/kv.c). */
#ifndef IWDL_KV_H
#define IWDL_KV_H

#include "arch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* KV bytes per token (kv_bytes_per_token, _full, _swa) at a->kv_precision
 * (bf16 when unknown).  Pure function of the record. */
int iw_kv_per_token(iw_arch *a);

#ifdef __cplusplus
}
#endif
#endif
