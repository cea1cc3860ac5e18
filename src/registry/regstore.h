/* regstore.h - entry-level transactions on the registry store (private to
 * src/registry).
 *
 * One transaction (store_txn.c): lock, re-read, the callback, write.  It
 * touches only the entries it names: they are parsed on demand, and on write
 * every other entry's bytes are copied verbatim from the file read under the
 * lock (docs/registry.md, "How a change is written").  upsert, remove and
 * register use it.  A change of many entries (migrate, reconcile,
 * maintenance) takes the layers as whole arrays instead (arrays: every
 * entry parsed, a changed layer printed whole); iw_registry_update is that.
 *
 * Inside the callback (under the lock, after the re-read):
 *   get      an entry of a layer (IW_REG_MERGED: the merged entry), NULL
 *            when absent; do not modify it;
 *   get_mut  the same for curated/discovered, marked changed: it is printed
 *            on write if the callback reports that layer changed;
 *   add      a new entry (takes ownership, also on failure); its "name" must
 *            be a free, non-empty string of at most IW_REGISTRY_MAX_NAME bytes;
 *   del      remove an entry; false when absent;
 *   arrays   both layers as whole arrays to change in place (owned by the
 *            transaction; entries got before are not to be used after it).
 * A failure inside get/get_mut (out of memory) is remembered and fails the
 * transaction even if the callback goes on.  The callback returns the mask
 * of layers it changed, 0 (nothing written; get_mut/add/del are undone) or a
 * negative error (likewise undone). */
#ifndef IW_REGISTRY_REGSTORE_H
#define IW_REGISTRY_REGSTORE_H

#include <stdbool.h>
#include <cjson/cJSON.h>
#include "iwdl/registry.h"

typedef struct iw_reg_txn iw_reg_txn;
typedef int (*iw_reg_txn_fn)(iw_reg_txn *t, void *ctx);

int           iw_reg_update_entries(iw_registry *r, iw_reg_txn_fn fn, void *ctx);
const cJSON  *iw_reg_txn_get(iw_reg_txn *t, iw_reg_layer layer, const char *name);
cJSON        *iw_reg_txn_get_mut(iw_reg_txn *t, iw_reg_layer layer, const char *name);
int           iw_reg_txn_add(iw_reg_txn *t, iw_reg_layer layer, cJSON *entry);
bool          iw_reg_txn_del(iw_reg_txn *t, iw_reg_layer layer, const char *name);
int           iw_reg_txn_arrays(iw_reg_txn *t, cJSON **discovered, cJSON **curated);

/* Outside a transaction: the first merged entry whose text (in either
 * layer) contains one of the needles and for which fn returns true; its
 * name (malloc'd) or NULL.  Only the entries whose text holds a needle are
 * parsed. */
char *iw_reg_find_by_text(iw_registry *r, const char *const *needles, size_t n,
                          bool (*fn)(const cJSON *e, void *ctx), void *ctx);

/* Numbers of dst (a copy about to be printed) equal to the number at the
 * same path of the JSON text orig become cJSON_Raw nodes spelled as there
 * (numtok.c), so untouched values keep their tokens. */
int           iw_reg_keep_numbers(cJSON *dst, const char *orig, size_t len);

#endif
