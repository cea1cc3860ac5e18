/* store_txn.c - the registry's one transaction (lock, re-read, change,
 * write), its entry and whole-array views, and upsert/remove over it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"
#include "iwdl/schema.h"
#include "jscan.h"
#include "pyjson.h"
#include "regstore.h"
#include "store_internal.h"

/* ------------------------------------------------------------ transactions */

static void rollback(iw_registry *r)
{
    /* discard in-memory edits: re-read the files */
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", iw_error_last());
    int code = iw_error_last_code();
    for (int l = 0; l < 3; l++)
        r->sig[l].valid = false;
    for (int l = 0; l < 2; l++)
        rs_layer_free(&r->L[l]);
    rs_drop_merged(r);
    (void)rs_refresh(r, true);
    iw_error_set(code ? code : IW_EIO, "%s", saved);
}

/* A legacy single model_registry.json, split before the first write the
 * way the original's registry.py::_migrate_legacy_snapshot splits it:
 * entries with metadata.created_from_download or a backend of "ollama" or
 * "unassigned" go to the discovered layer, every other entry to the
 * curated layer (each printed as its json.dumps(indent=2)), and the old
 * file is renamed to model_registry.backup.pre_split.json (kept when that
 * exists).  Under the lock; the layers are then read back. */
static int legacy_split(iw_registry *r)
{
    reg_layer *L = &r->L[IW_REG_DISCOVERED];
    iw_buf out[2] = { IW_BUF_INIT(IW_BUF_UNCAPPED), IW_BUF_INIT(IW_BUF_UNCAPPED) };
    size_t cnt[2] = { 0, 0 };
    int rc = 0;
    for (size_t i = 0; i < L->n_orig && rc == 0; i++) {
        const cJSON *e = rs_ent_json(L, i);
        if (!e) {
            rc = IW_ENOMEM;
            break;
        }
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "metadata");
        const cJSON *cfd = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "created_from_download") : NULL;
        bool truthy = cfd && !cJSON_IsFalse(cfd) && !cJSON_IsNull(cfd) && !(cJSON_IsNumber(cfd) && cfd->valuedouble == 0) &&
                      !(cJSON_IsString(cfd) && !cfd->valuestring[0]) && !(cJSON_IsArray(cfd) && !cfd->child) &&
                      !(cJSON_IsObject(cfd) && !cfd->child);
        const char *b = iw_json_get_str(e, "backend");
        int l = (truthy || (b && (!strcmp(b, "ollama") || !strcmp(b, "unassigned")))) ? IW_REG_DISCOVERED : IW_REG_CURATED;
        if (iw_buf_puts(&out[l], cnt[l]++ ? ",\n  " : "[\n  ") < 0) {
            rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
            break;
        }
        rc = iw_pyjson_reformat(L->text + L->ents[i].start, L->ents[i].end - L->ents[i].start, 1, &out[l]);
    }
    for (int l = 0; l < 2 && rc == 0; l++)
        if (iw_buf_puts(&out[l], cnt[l] ? "\n]\n" : "[]\n") < 0)
            rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
    char *bak = rs_join2(r->dir, "model_registry.backup.pre_split.json");
    if (rc == 0 && !bak)
        rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
    /* the backup first: a crash after it leaves the layers to write again */
    if (rc == 0 && !iw_path_exists(bak) && link(r->paths[IW_REG_MERGED], bak) != 0 &&
        (rc = rs_copy_file(r->paths[IW_REG_MERGED], bak)) < 0)
        iw_error_prefix("splitting the legacy registry");
    if (rc == 0 && (rc = iw_write_atomic(r->paths[IW_REG_CURATED], out[IW_REG_CURATED].data, out[IW_REG_CURATED].len)) == 0)
        rc = iw_write_atomic(r->paths[IW_REG_DISCOVERED], out[IW_REG_DISCOVERED].data, out[IW_REG_DISCOVERED].len);
    free(bak);
    iw_buf_free(&out[0]);
    iw_buf_free(&out[1]);
    if (rc < 0)
        return rc;
    r->legacy = false;
    return rs_refresh(r, true);
}

static int begin(iw_registry *r, iw_lock *lk)
{
    int rc;
    if ((rc = iw_mkdir_p(r->dir, 0755)) < 0)
        return rc;
    if ((rc = iw_lock_acquire(lk, r->lock_path, IW_REGISTRY_LOCK_TIMEOUT_MS)) < 0)
        return rc;
    r->lock_fd = lk->fd;
    if ((rc = rs_refresh(r, false)) < 0 || (r->legacy && (rc = legacy_split(r)) < 0) ||
        (rc = rs_adopt_snapshot(r)) < 0) {
        r->lock_fd = -1;
        iw_lock_release(lk);
        return rc;
    }
    for (int l = 0; l < 2; l++)
        rs_layer_drop_view(&r->L[l]);
    rs_drop_merged(r);
    return 0;
}

static void finish(iw_registry *r, iw_lock *lk, bool wrote)
{
    r->adopted = 0;
    if (wrote) {
        r->legacy = false;
        rs_record_snapshot(r);
        rs_tidy_dir(r, true, false);
    }
    r->lock_fd = -1;
    iw_lock_release(lk);
    if (wrote)
        rs_tidy_dir(r, false, true);
}

/* Undo a transaction that wrote nothing: arrays taken are given back,
 * entry edits (get_mut/add/del) undone. */
static void txn_undo(iw_reg_txn *t)
{
    for (int l = 0; l < 2; l++) {
        if (t->tree[l])
            rs_layer_give_tree(&t->r->L[l], t->tree[l]);
        else
            rs_layer_discard(&t->r->L[l]);
        t->tree[l] = NULL;
    }
    rs_drop_merged(t->r);
}

/* The layer's new text: the whole array printed when the transaction took
 * it, else the old text's pieces with the changed entries printed. */
static int txn_print(iw_reg_txn *t, int l, iovb *b)
{
    reg_layer *L = &t->r->L[l];
    return t->tree[l] ? rs_print_into(b, t->tree[l], L, t->r->paths[l]) : rs_emit(L, b);
}

int iw_reg_update_entries(iw_registry *r, iw_reg_txn_fn fn, void *ctx)
{
    iw_lock lk = { -1, NULL };
    iovb b[3];
    int rc, mask;
    unsigned which = 0;
    memset(b, 0, sizeof b);
    if (!r || !fn)
        return iw_error_set(IW_EINVAL, "registry update: no registry or function");
    if ((rc = begin(r, &lk)) < 0)
        return rc;
    struct iw_reg_txn t = { r, 0, { NULL, NULL } };
    mask = fn(&t, ctx);
    if (mask >= 0 && t.err < 0)
        mask = t.err;
    if (mask < 0 && (t.tree[0] || t.tree[1])) {
        rc = mask;   /* the arrays may be half changed: read the files again */
        goto rollback;
    }
    if (mask <= 0) {
        txn_undo(&t);
        finish(r, &lk, false);
        return mask;
    }
    /* the original's order: discovered, curated, snapshot (entries adopted
     * from a snapshot the original wrote go into discovered with it) */
    if ((mask & (1 << IW_REG_DISCOVERED)) || r->legacy || r->adopted) {
        which |= 1u << IW_REG_DISCOVERED;
        if ((rc = txn_print(&t, IW_REG_DISCOVERED, &b[IW_REG_DISCOVERED])) < 0)
            goto rollback;
    }
    if (mask & (1 << IW_REG_CURATED)) {
        which |= 1u << IW_REG_CURATED;
        if ((rc = txn_print(&t, IW_REG_CURATED, &b[IW_REG_CURATED])) < 0)
            goto rollback;
    }
    rc = rs_snapshot_build(r, b, which);
    if (rc < 0 || (rc = rs_write_files(r, b, which)) < 0)
        goto rollback;
    for (int l = 0; l < 2; l++) {
        if (which & (1u << l)) {
            rs_layer_written(&r->L[l]);
            cJSON_Delete(t.tree[l]);
        } else if (t.tree[l]) {
            rs_layer_give_tree(&r->L[l], t.tree[l]);
        } else {
            rs_layer_discard(&r->L[l]);
        }
        t.tree[l] = NULL;
    }
    rs_drop_merged(r);
    finish(r, &lk, true);
    rc = mask;
    goto done;
rollback:
    rollback(r);
    finish(r, &lk, false);
done:
    for (int l = 0; l < 2; l++)
        cJSON_Delete(t.tree[l]);
    for (int l = 0; l < 3; l++)
        rs_iovb_free(&b[l]);
    return rc;
}

static reg_layer *txn_layer(iw_reg_txn *t, iw_reg_layer layer)
{
    return (layer == IW_REG_CURATED || layer == IW_REG_DISCOVERED) ? &t->r->L[layer] : NULL;
}

const cJSON *iw_reg_txn_get(iw_reg_txn *t, iw_reg_layer layer, const char *name)
{
    if (!t || !name)
        return NULL;
    const cJSON *e;
    if (layer == IW_REG_MERGED) {
        iw_error_clear();
        e = rs_merged_get(t->r, name);
    } else {
        reg_layer *L = txn_layer(t, layer);
        long i = L ? rs_layer_find(L, name) : -1;
        if (i < 0)
            return NULL;
        e = rs_ent_json(L, (size_t)i);
    }
    if (!e && iw_error_last_code() == IW_ENOMEM && t->err == 0)
        t->err = IW_ENOMEM;
    return e;
}

cJSON *iw_reg_txn_get_mut(iw_reg_txn *t, iw_reg_layer layer, const char *name)
{
    reg_layer *L = t ? txn_layer(t, layer) : NULL;
    long i = (L && name) ? rs_layer_find(L, name) : -1;
    if (i < 0)
        return NULL;
    cJSON *e = rs_ent_json(L, (size_t)i);
    if (!e) {
        if (t->err == 0)
            t->err = IW_ENOMEM;
        return NULL;
    }
    L->ents[i].dirty = true;
    free(L->ents[i].printed);
    L->ents[i].printed = NULL;
    rs_drop_merged(t->r);
    return e;
}

/* Append a fresh entry (owned by the layer from here, freed on failure). */
int rs_layer_add(reg_layer *L, cJSON *entry)
{
    const char *nm = iw_json_get_str(entry, "name");
    int rc = 0;
    if (!L || !cJSON_IsObject(entry) || !nm || !*nm || strlen(nm) > IW_REGISTRY_MAX_NAME)
        rc = iw_error_set(IW_EINVAL, "registry: a new entry needs a string \"name\" of 1 to %d bytes", IW_REGISTRY_MAX_NAME);
    else if (rs_layer_find(L, nm) >= 0)
        rc = iw_error_set(IW_EEXISTS, "registry: an entry named '%s' exists already", nm);
    if (rc == 0 && L->n == L->cap) {
        size_t nc = L->cap ? L->cap * 2 : 16;
        reg_ent *g = realloc(L->ents, nc * sizeof *g);
        if (!g)
            rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
        else {
            L->ents = g;
            L->cap = nc;
        }
    }
    char *name = rc == 0 ? strdup(nm) : NULL;
    if (rc == 0 && !name)
        rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
    if (rc < 0) {
        cJSON_Delete(entry);
        return rc;
    }
    reg_ent *e = &L->ents[L->n++];
    memset(e, 0, sizeof *e);
    e->name = name;
    e->name_owned = e->fresh = e->dirty = true;
    e->json = entry;
    L->live++;
    return 0;
}

int iw_reg_txn_add(iw_reg_txn *t, iw_reg_layer layer, cJSON *entry)
{
    reg_layer *L = t ? txn_layer(t, layer) : NULL;
    int rc = rs_layer_add(L, entry);
    if (rc < 0) {
        if (t && t->err == 0)
            t->err = rc;
        return rc;
    }
    rs_drop_merged(t->r);
    return 0;
}

bool iw_reg_txn_del(iw_reg_txn *t, iw_reg_layer layer, const char *name)
{
    reg_layer *L = t ? txn_layer(t, layer) : NULL;
    long i = (L && name) ? rs_layer_find(L, name) : -1;
    if (i < 0)
        return false;
    L->ents[i].deleted = true;
    L->live--;
    rs_drop_merged(t->r);
    return true;
}

int iw_reg_txn_arrays(iw_reg_txn *t, cJSON **discovered, cJSON **curated)
{
    for (int l = 0; l < 2; l++)
        if (!t->tree[l] && !(t->tree[l] = rs_layer_take_tree(&t->r->L[l]))) {
            if (t->err == 0)
                t->err = IW_ENOMEM;
            return iw_error_set(IW_ENOMEM, "registry: out of memory");
        }
    rs_drop_merged(t->r);
    *discovered = t->tree[IW_REG_DISCOVERED];
    *curated = t->tree[IW_REG_CURATED];
    return 0;
}

/* iw_registry_update: the transaction over whole arrays. */
typedef struct arrays_ctx { iw_registry_txn_fn fn; void *ctx; } arrays_ctx;

static int arrays_txn(iw_reg_txn *t, void *p)
{
    arrays_ctx *a = p;
    cJSON *d, *c;
    int rc = iw_reg_txn_arrays(t, &d, &c);
    return rc < 0 ? rc : a->fn(d, c, a->ctx);
}

int iw_registry_update(iw_registry *r, iw_registry_txn_fn fn, void *ctx)
{
    if (!r || !fn)
        return iw_error_set(IW_EINVAL, "iw_registry_update: no registry or function");
    arrays_ctx a = { fn, ctx };
    return iw_reg_update_entries(r, arrays_txn, &a);
}

/* ------------------------------------------------------------ upsert/remove */

typedef struct upsert_ctx { const char *name; iw_registry_entry_fn fn; void *ctx; int result; } upsert_ctx;

static int upsert_txn(iw_reg_txn *t, void *p)
{
    upsert_ctx *u = p;
    cJSON *e = iw_reg_txn_get_mut(t, IW_REG_DISCOVERED, u->name);
    bool is_new = e == NULL;
    if (t->err < 0)
        return t->err;
    if (is_new) {
        e = cJSON_CreateObject();
        if (!e || !cJSON_AddStringToObject(e, "name", u->name)) {
            cJSON_Delete(e);
            return iw_error_set(IW_ENOMEM, "registry: out of memory");
        }
    }
    int rc = u->fn(e, is_new, u->ctx);
    u->result = rc < 0 ? rc : rc > 0;
    if (rc <= 0) {
        if (is_new)
            cJSON_Delete(e);
        return rc;
    }
    /* the callback must not rename the entry onto another one */
    const char *nm = iw_json_get_str(e, "name");
    if (!nm || strcmp(nm, u->name) != 0) {
        if (is_new)
            cJSON_Delete(e);
        return iw_error_set(IW_EINVAL, "registry: upsert of '%s' changed the entry name", u->name);
    }
    if (is_new && (rc = iw_reg_txn_add(t, IW_REG_DISCOVERED, e)) < 0)
        return rc;
    u->result = 1;
    return 1 << IW_REG_DISCOVERED;
}

int iw_registry_upsert(iw_registry *r, const char *name, iw_registry_entry_fn fn, void *ctx)
{
    if (!name || !*name || strlen(name) > IW_REGISTRY_MAX_NAME || !fn)
        return iw_error_set(IW_EINVAL, "registry: invalid entry name or callback");
    upsert_ctx u = { name, fn, ctx, 0 };
    int rc = iw_reg_update_entries(r, upsert_txn, &u);
    return rc < 0 ? rc : u.result;
}

/* ---- upsert of both layers (docs/registry.md, "Curated entries") ----- */

typedef struct both_ctx {
    const char *name;
    iw_registry_layer_fn fn;
    void *ctx;
    bool curated;
} both_ctx;

static int both_txn(iw_reg_txn *t, void *p)
{
    both_ctx *b = p;
    cJSON *e = iw_reg_txn_get_mut(t, IW_REG_DISCOVERED, b->name);
    bool is_new = e == NULL;
    int mask = 0, rc;
    if (t->err < 0)
        return t->err;
    if (is_new && (!(e = cJSON_CreateObject()) || !cJSON_AddStringToObject(e, "name", b->name))) {
        cJSON_Delete(e);
        return iw_error_set(IW_ENOMEM, "registry: out of memory");
    }
    rc = b->fn(e, is_new, false, b->ctx);
    if (rc < 0 || (rc > 0 && !iw_json_get_str(e, "name"))) {
        if (is_new)
            cJSON_Delete(e);
        return rc < 0 ? rc : iw_error_set(IW_EINVAL, "registry: upsert of '%s' changed the entry name", b->name);
    }
    if (rc > 0) {
        if (is_new && (rc = iw_reg_txn_add(t, IW_REG_DISCOVERED, e)) < 0)
            return rc;
        mask |= 1 << IW_REG_DISCOVERED;
    } else if (is_new) {
        cJSON_Delete(e);
    }
    /* the curated entry of that name: its values win in the merged view */
    if (iw_reg_txn_get(t, IW_REG_CURATED, b->name)) {
        cJSON *c = iw_reg_txn_get_mut(t, IW_REG_CURATED, b->name);
        if (t->err < 0)
            return t->err;
        if ((rc = b->fn(c, false, true, b->ctx)) < 0)
            return rc;
        if (rc > 0) {
            const char *nm = iw_json_get_str(c, "name");
            if (!nm || strcmp(nm, b->name) != 0)
                return iw_error_set(IW_EINVAL, "registry: upsert of '%s' changed the entry name", b->name);
            mask |= 1 << IW_REG_CURATED;
            b->curated = true;
        }
    }
    return mask;
}

int iw_registry_upsert_both(iw_registry *r, const char *name, iw_registry_layer_fn fn, void *ctx,
                            bool *curated_changed)
{
    if (curated_changed)
        *curated_changed = false;
    if (!name || !*name || strlen(name) > IW_REGISTRY_MAX_NAME || !fn)
        return iw_error_set(IW_EINVAL, "registry: invalid entry name or callback");
    both_ctx b = { name, fn, ctx, false };
    int rc = iw_reg_update_entries(r, both_txn, &b);
    if (rc < 0)
        return rc;
    if (curated_changed)
        *curated_changed = b.curated;
    return rc > 0;
}

typedef struct remove_ctx { const char *name; bool curated; } remove_ctx;

static int remove_txn(iw_reg_txn *t, void *p)
{
    remove_ctx *x = p;
    int mask = 0;
    if (iw_reg_txn_del(t, IW_REG_DISCOVERED, x->name))
        mask |= 1 << IW_REG_DISCOVERED;
    if (x->curated && iw_reg_txn_del(t, IW_REG_CURATED, x->name))
        mask |= 1 << IW_REG_CURATED;
    if (!mask)
        return iw_error_set(IW_ENOTFOUND, "no registry entry named '%s'%s", x->name,
                            x->curated ? "" : " in the discovered layer");
    return mask;
}

int iw_registry_remove(iw_registry *r, const char *name, bool from_curated)
{
    if (!name || !*name)
        return iw_error_set(IW_EINVAL, "registry: no entry name");
    remove_ctx x = { name, from_curated };
    int rc = iw_reg_update_entries(r, remove_txn, &x);
    return rc < 0 ? rc : 0;
}

void iw_registry_iso_time(int64_t sec, long usec, char out[40])
{
    struct tm tm;
    char base[24];
    time_t t = (time_t)sec;
    gmtime_r(&t, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%.19s.%06d+00:00", base, (int)(usec % 1000000));
}

void iw_registry_now_iso(char out[40])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    iw_registry_iso_time(tv.tv_sec, (long)tv.tv_usec, out);
}
