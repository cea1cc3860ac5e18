/* safetensors_int.h - private helpers shared by safetensors.c and tensors.c. */
#ifndef IW_SAFETENSORS_INT_H
#define IW_SAFETENSORS_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Open-addressing set of borrowed C strings (the strings must outlive the
 * set).  Used for duplicate detection and name lookups in O(1), so headers
 * with hundreds of thousands of tensors stay linear. */
typedef struct st_strset {
    const char **slot;
    size_t      *val;
    size_t       cap;   /* power of two */
    size_t       n;
} st_strset;

int  iw_st_strset_init(st_strset *s, size_t expected);
/* Insert; returns 1 if inserted, 0 if already present (*val_out = stored
 * value), negative on allocation failure. */
int  iw_st_strset_put(st_strset *s, const char *key, size_t val, size_t *val_out);
bool iw_st_strset_get(const st_strset *s, const char *key, size_t *val_out);
void iw_st_strset_free(st_strset *s);

bool iw_st_ends_with(const char *s, const char *suffix);

#endif
