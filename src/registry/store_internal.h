/* store_internal.h - the registry store's state, shared by its four files
 * (private to src/registry):
 *   store.c        open and read: signatures, loading, layers, getters
 *   store_merge.c  the merged view (curated over discovered)
 *   store_write.c  printing layers and the snapshot, staged writes, backups
 *   store_txn.c    the one transaction: lock, re-read, change, write
 * Functions shared between them carry the rs_ prefix. */
#ifndef IW_REGISTRY_STORE_INTERNAL_H
#define IW_REGISTRY_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "iwdl/fs.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"
#include "jscan.h"
#include "regstore.h"

extern const char *const RS_FILE_NAMES[3];
extern const char *const RS_STEMS[3];

typedef struct file_sig { bool valid, exists; dev_t dev; ino_t ino; off_t size; struct timespec mtim; } file_sig;

/* One entry of a layer: its bytes in the layer text, its name, and the
 * cJSON tree once something asked for it. */
typedef struct reg_ent {
    size_t      start, end;   /* span in the layer text (not for fresh entries) */
    const char *name;         /* in the scan arena, or owned (name_owned) */
    cJSON      *json;         /* parsed on demand; owned */
    char       *printed;      /* during a write: the entry as printed */
    size_t      printed_len;
    bool        name_owned, dirty, deleted, fresh;
} reg_ent;

typedef struct reg_layer {
    char    *text;            /* the file's bytes (owned); NULL: no file */
    size_t   len;
    size_t   skip, open, close;   /* BOM length, root '[' and ']' offsets */
    char    *arena;           /* names from the scan */
    reg_ent *ents;
    size_t   n, cap;          /* entries; the first n_orig come from the text */
    size_t   n_orig;
    size_t   live;            /* entries not deleted */
    size_t  *ix;              /* name table of the n_orig entries (jscan.h) */
    size_t   ixmask;
    cJSON   *view;            /* iw_registry_entries() array: borrows the entries' trees */
    bool     loaded;
} reg_layer;

typedef struct merged_one { char *name; cJSON *e; } merged_one;

struct iw_registry {
    char      *dir;
    char      *paths[3];
    char      *lock_path;
    reg_layer  L[2];          /* IW_REG_CURATED, IW_REG_DISCOVERED */
    cJSON     *merged_full;   /* the merged array when curated has entries (owned) */
    merged_one *mone;         /* merged entries handed out by get (owned) */
    size_t     nmone, cmone;
    file_sig   sig[3];
    bool       legacy;        /* discovered loaded from model_registry.json */
    int        lock_fd;       /* held lock's fd during an update, else -1 */
    size_t     adopted;       /* this transaction: entries taken from the snapshot into discovered */
};


/* A transaction: the handle, the first error met inside the callback, and
 * the layers taken as whole arrays (iw_reg_txn_arrays), else NULL. */
struct iw_reg_txn { iw_registry *r; int err; cJSON *tree[2]; };

/* Pieces of a file to write: ranges of a layer text, printed entries. */
typedef struct iovb {
    struct iovec *v;
    size_t n, cap;
    char **owned;
    size_t no, co;
    size_t total;
} iovb;

char *rs_join2(const char *a, const char *b);
void rs_record_snapshot(const iw_registry *r);
void rs_sig_of(const char *path, file_sig *s);
void rs_layer_drop_view(reg_layer *L);
void rs_ent_free(reg_ent *e);
void rs_layer_free(reg_layer *L);
long rs_layer_find(const reg_layer *L, const char *name);
cJSON *rs_ent_json(reg_layer *L, size_t i);
const cJSON *rs_layer_view(reg_layer *L);
int rs_refresh(iw_registry *r, bool force);
int rs_adopt_snapshot(iw_registry *r);
int rs_layer_add(reg_layer *L, cJSON *entry);
void rs_drop_merged(iw_registry *r);
const cJSON *rs_merged_get(iw_registry *r, const char *name);
const cJSON *rs_merged_view(iw_registry *r);
int rs_copy_file(const char *from, const char *to);
void rs_tidy_dir(iw_registry *r, bool temps, bool backups);
void rs_iovb_free(iovb *b);
int rs_iovb_add(iovb *b, const void *p, size_t len);
int rs_iovb_own(iovb *b, char *p, size_t len);
int rs_keep_tokens(const reg_layer *L, cJSON *e);
int rs_emit(reg_layer *L, iovb *out);
void rs_layer_discard(reg_layer *L);
void rs_layer_written(reg_layer *L);
int rs_snapshot_build(iw_registry *r, iovb b[3], unsigned which);
int rs_write_files(iw_registry *r, iovb b[3], unsigned which);
cJSON *rs_layer_take_tree(reg_layer *L);
void rs_layer_give_tree(reg_layer *L, cJSON *arr);
int rs_print_into(iovb *b, cJSON *arr, const reg_layer *L, const char *path);

#endif
