/* store_write.c - writing the registry: layers as pieces of their old text
 * and printed entries, whole arrays, the snapshot in the original's form,
 * staged files, backups and tidying. */
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

int rs_copy_file(const char *from, const char *to)
{
    iw_buf b = IW_BUF_INIT(IW_REGISTRY_MAX_BYTES);
    int rc = iw_read_file(from, IW_REGISTRY_MAX_BYTES, &b);
    if (rc == 0)
        rc = iw_write_atomic(to, b.data ? b.data : "", b.len);
    iw_buf_free(&b);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Backups this tool writes: <stem>.YYYYmmdd-HHMMSS.iwdl.bak.json.  The
 * original writes <stem>.YYYYmmdd-HHMMSS.bak.json itself (cli.py's
 * reset-discovered, purge-logical-only, normalize-formats, ...); the
 * ".iwdl" keeps ours apart, so pruning never deletes the user's backups
 * and a backup of ours never replaces one of the original's made in the
 * same second.  Both match the original's restore glob
 * (model_registry.*.bak.json). */
static void backup_name(char *out, size_t n, int layer, const char *stamp)
{
    snprintf(out, n, "%s.%s.iwdl.bak.json", RS_STEMS[layer], stamp);
}

static bool is_our_backup(const char *n, size_t len, int layer)
{
    static const char SUF[] = ".iwdl.bak.json";
    size_t sl = strlen(RS_STEMS[layer]), xl = sizeof SUF - 1;
    /* <stem> '.' 15 timestamp characters (YYYYmmdd-HHMMSS) SUF */
    if (len != sl + 1 + 15 + xl || strncmp(n, RS_STEMS[layer], sl) != 0 || n[sl] != '.' || n[sl + 9] != '-' ||
        strcmp(n + sl + 16, SUF) != 0)
        return false;
    for (size_t i = sl + 1; i < sl + 16; i++)
        if (i != sl + 9 && (n[i] < '0' || n[i] > '9'))
            return false;
    return true;
}

/* After a write: under the lock, remove stale temp files of killed writers
 * (no other writer is active) (temps); after the lock is released, keep the
 * newest IW_REGISTRY_BACKUPS backups per stem (backups).  Unlinking an old
 * 17 MB backup takes the filesystem 10-80 ms here, so other writers need
 * not wait for it; two processes pruning at once only race to unlink the
 * same old names. */
void rs_tidy_dir(iw_registry *r, bool temps, bool backups)
{
    DIR *d = opendir(r->dir);
    if (!d)
        return;
    char **bk[3] = { NULL, NULL, NULL };
    size_t nb[3] = { 0, 0, 0 }, cb[3] = { 0, 0, 0 };
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strncmp(n, ".model_registry", 15) == 0 && strstr(n, ".tmp.")) {
            if (!temps)
                continue;
            char *p = rs_join2(r->dir, n);
            if (p)
                unlink(p);
            free(p);
            continue;
        }
        size_t len = strlen(n);
        if (!backups || len < 9 || strcmp(n + len - 9, ".bak.json") != 0)
            continue;
        for (int l = 0; l < 3; l++) {
            if (is_our_backup(n, len, l)) {
                if (nb[l] == cb[l]) {
                    size_t nc = cb[l] ? cb[l] * 2 : 8;
                    char **g = realloc(bk[l], nc * sizeof *g);
                    if (!g)
                        break;
                    bk[l] = g;
                    cb[l] = nc;
                }
                if ((bk[l][nb[l]] = strdup(n)))
                    nb[l]++;
                break;
            }
        }
    }
    closedir(d);
    for (int l = 0; l < 3; l++) {
        if (nb[l] > IW_REGISTRY_BACKUPS) {
            qsort(bk[l], nb[l], sizeof *bk[l], cmp_str);
            for (size_t i = 0; i + IW_REGISTRY_BACKUPS < nb[l]; i++) {
                char *p = rs_join2(r->dir, bk[l][i]);
                if (p)
                    unlink(p);
                free(p);
            }
        }
        for (size_t i = 0; i < nb[l]; i++)
            free(bk[l][i]);
        free(bk[l]);
    }
}

/* ------------------------------------------------------------ staged writes
 *
 * A change writes up to three files.  Each is written to a temp file in the
 * folder and its writeback started at once; then every temp is fsync'd
 * (the disk works on all of them together), then each is backed up and
 * renamed over its file in the original's order (discovered, curated,
 * snapshot), then the folder is fsync'd once.  A crash at any point leaves
 * each file wholly old or wholly new. */


void rs_iovb_free(iovb *b)
{
    for (size_t i = 0; i < b->no; i++)
        free(b->owned[i]);
    free(b->owned);
    free(b->v);
    memset(b, 0, sizeof *b);
}

/* Add [p, p+len); a range that continues the previous one is merged, so an
 * untouched stretch of the old text is one piece. */
int rs_iovb_add(iovb *b, const void *p, size_t len)
{
    if (!len)
        return 0;
    b->total += len;
    if (b->n && (const char *)b->v[b->n - 1].iov_base + b->v[b->n - 1].iov_len == (const char *)p) {
        b->v[b->n - 1].iov_len += len;
        return 0;
    }
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 16;
        struct iovec *g = realloc(b->v, nc * sizeof *g);
        if (!g)
            return iw_error_set(IW_ENOMEM, "registry: out of memory");
        b->v = g;
        b->cap = nc;
    }
    b->v[b->n].iov_base = (void *)p;
    b->v[b->n].iov_len = len;
    b->n++;
    return 0;
}

/* Add a malloc'd piece, owned by b from now on (also on failure). */
int rs_iovb_own(iovb *b, char *p, size_t len)
{
    if (b->no == b->co) {
        size_t nc = b->co ? b->co * 2 : 8;
        char **g = realloc(b->owned, nc * sizeof *g);
        if (!g) {
            free(p);
            return iw_error_set(IW_ENOMEM, "registry: out of memory");
        }
        b->owned = g;
        b->co = nc;
    }
    b->owned[b->no++] = p;
    return rs_iovb_add(b, p, len);
}

typedef struct stage { int l; iw_staged f; } stage;

/* Write one file's temp (the iovecs are consumed), its writeback started. */
static int stage_file(iw_registry *r, int l, iovb *b, stage *st)
{
    st->l = l;
    st->f = (iw_staged)IW_STAGED_INIT;
    int rc = iw_staged_open(&st->f, r->paths[l]);
    return rc < 0 ? rc : iw_staged_writev(&st->f, b->v, b->n);
}

static void stage_abort(stage *st, size_t n)
{
    for (size_t i = 0; i < n; i++)
        iw_staged_abort(&st[i].f);
}

/* fsync every temp, then backup + rename each, then fsync the folder. */
static int stage_commit(iw_registry *r, stage *st, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if ((rc = iw_staged_sync(&st[i].f)) < 0)
            goto fail;
    iw_test_pause_before_rename();
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    for (size_t i = 0; i < n; i++) {
        int l = st[i].l;
        /* backup of the previous version: a hard link keeps the old inode */
        char bname[128], *bak;
        backup_name(bname, sizeof bname, l, stamp);
        if ((bak = rs_join2(r->dir, bname))) {
            unlink(bak);
            if (link(r->paths[l], bak) != 0 && errno != ENOENT && rs_copy_file(r->paths[l], bak) < 0)
                iw_error_clear();   /* a failed backup does not block the write */
            free(bak);
        }
        if ((rc = iw_staged_rename(&st[i].f)) < 0)
            goto fail;
    }
    if ((rc = iw_fsync_dir(r->dir)) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        rs_sig_of(r->paths[st[i].l], &r->sig[st[i].l]);
    return 0;
fail:
    stage_abort(st, n);
    return rc;
}

/* ------------------------------------------------------------ emitting */

/* An entry printed as an element of a top-level array, in the layout
 * iw_json_print gives the whole array (2-space indent, ": ", inline
 * arrays): the entry's own print, one level deeper.  Strings never hold a
 * raw newline (cJSON escapes it), so every '\n' is layout. */
static char *print_entry(const cJSON *e, size_t *len)
{
    char *s = iw_json_print(e);
    if (!s)
        return NULL;
    size_t n = strlen(s), nl = 0;
    if (n && s[n - 1] == '\n')
        n--;
    for (size_t i = 0; i < n; i++)
        nl += s[i] == '\n';
    char *o = malloc(n + 2 * nl + 1);
    if (!o) {
        free(s);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        o[k++] = s[i];
        if (s[i] == '\n') {
            o[k++] = ' ';
            o[k++] = ' ';
        }
    }
    o[k] = 0;
    free(s);
    *len = k;
    return o;
}

/* e (a copy about to be printed) keeps the number tokens of the entry of
 * the same name in L's text (numtok.c). */
int rs_keep_tokens(const reg_layer *L, cJSON *e)
{
    const char *nm = iw_json_get_str(e, "name");
    long i = nm && L->text ? rs_layer_find(L, nm) : -1;
    if (i < 0 || (size_t)i >= L->n_orig)
        return 0;
    return iw_reg_keep_numbers(e, L->text + L->ents[i].start, L->ents[i].end - L->ents[i].start);
}

/* Print an entry of L (untouched numbers spelled as in L's text). */
static char *print_kept(const cJSON *e, const reg_layer *L, size_t *len)
{
    cJSON *c = cJSON_Duplicate(e, 1);
    char *s = NULL;
    if (c && rs_keep_tokens(L, c) == 0)
        s = print_entry(c, len);
    cJSON_Delete(c);
    return s;
}

static int ent_printed(reg_layer *L, size_t i)
{
    reg_ent *e = &L->ents[i];
    if (e->printed)
        return 0;
    if (!e->json)
        return iw_error_set(IW_EINVAL, "registry: entry '%s' changed but not loaded", e->name);
    if (!(e->printed = print_kept(e->json, L, &e->printed_len)))
        return iw_error_set(IW_ENOMEM, "registry: out of memory serialising '%s'", e->name);
    return 0;
}

/* The separator a layer's text uses between entries (", " as cJSON prints
 * it when the text does not show one). */
static void layer_sep(const reg_layer *L, const char **p, size_t *n)
{
    if (L->text && L->n_orig >= 2) {
        *p = L->text + L->ents[0].end;
        *n = L->ents[1].start - L->ents[0].end;
    } else {
        *p = ", ";
        *n = 2;
    }
}

/* Separator to put after entry i when another entry follows. */
static void sep_after(const reg_layer *L, size_t i, const char **p, size_t *n)
{
    if (i + 1 < L->n_orig) {
        *p = L->text + L->ents[i].end;
        *n = L->ents[i + 1].start - L->ents[i].end;
    } else {
        layer_sep(L, p, n);
    }
}

/* Layer L as the transaction left it (deleted entries out, changed ones
 * printed, new ones appended, every other byte from the text read under the
 * lock), as pieces. */
int rs_emit(reg_layer *L, iovb *out)
{
    int rc;
    const char *sp;
    size_t sn;
    const char *pre = "[", *suf = "]\n";
    size_t pre_n = 1, suf_n = 2;
    if (L->text && L->n_orig) {
        pre = L->text + L->skip;
        pre_n = L->ents[0].start - L->skip;
        suf = L->text + L->ents[L->n_orig - 1].end;
        suf_n = L->len - L->ents[L->n_orig - 1].end;
    } else if (L->text) {
        pre = L->text + L->skip;
        pre_n = L->open + 1 - L->skip;
        suf = L->text + L->close;
        suf_n = L->len - L->close;
    }
    if ((rc = rs_iovb_add(out, pre, pre_n)) < 0)
        return rc;
    long prev = -1;
    for (size_t i = 0; i < L->n; i++) {
        reg_ent *e = &L->ents[i];
        if (e->deleted)
            continue;
        if (prev >= 0) {
            sep_after(L, (size_t)prev, &sp, &sn);
            if ((rc = rs_iovb_add(out, sp, sn)) < 0)
                return rc;
        }
        prev = (long)i;
        if (e->dirty || e->fresh) {
            if ((rc = ent_printed(L, i)) == 0)
                rc = rs_iovb_add(out, e->printed, e->printed_len);
        } else {
            rc = rs_iovb_add(out, L->text + e->start, e->end - e->start);
        }
        if (rc < 0)
            return rc;
    }
    return rs_iovb_add(out, suf, suf_n);
}

/* Undo get_mut/add/del of a transaction that wrote nothing. */
void rs_layer_discard(reg_layer *L)
{
    for (size_t i = L->n_orig; i < L->n; i++)
        rs_ent_free(&L->ents[i]);
    L->n = L->n_orig;
    for (size_t i = 0; i < L->n; i++) {
        reg_ent *e = &L->ents[i];
        if (e->dirty) {
            cJSON_Delete(e->json);
            e->json = NULL;
            e->dirty = false;
        }
        free(e->printed);
        e->printed = NULL;
        e->deleted = false;
    }
    L->live = L->n;
}

/* After a write the layer is read again on its next use (from the page
 * cache): building the new text in memory would cost a copy of the whole
 * file that a one-shot command never uses. */
void rs_layer_written(reg_layer *L)
{
    rs_layer_free(L);
    L->loaded = false;
}

/* The snapshot (b[IW_REG_MERGED]) from the layer texts as they will be
 * on disk: the new text of a layer in `which`, else the text read under the
 * lock.  Printed as the original's _materialize_snapshot prints it
 * (pyjson.h), so the original's load finds the same bytes and leaves it. */
int rs_snapshot_build(iw_registry *r, iovb b[3], unsigned which)
{
    char *own[2] = { NULL, NULL };
    const char *t[2] = { NULL, NULL };
    size_t n[2] = { 0, 0 };
    int rc = 0;
    for (int l = IW_REG_CURATED; l <= IW_REG_DISCOVERED; l++) {
        if (which & (1u << l)) {
            if (!(own[l] = malloc(b[l].total ? b[l].total : 1))) {
                rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
                goto out;
            }
            for (size_t i = 0; i < b[l].n; i++) {
                memcpy(own[l] + n[l], b[l].v[i].iov_base, b[l].v[i].iov_len);
                n[l] += b[l].v[i].iov_len;
            }
            t[l] = own[l];
        } else if (r->L[l].text) {
            t[l] = r->L[l].text;
            n[l] = r->L[l].len;
        }
    }
    iw_buf out = IW_BUF_INIT(IW_BUF_UNCAPPED);
    if ((rc = iw_pyjson_snapshot(t[IW_REG_DISCOVERED], n[IW_REG_DISCOVERED], t[IW_REG_CURATED], n[IW_REG_CURATED],
                                 &out)) == 0) {
        size_t len = out.len;
        char *txt = iw_buf_detach(&out);
        rc = txt ? rs_iovb_own(&b[IW_REG_MERGED], txt, len) : iw_error_set(IW_ENOMEM, "registry: out of memory");
    }
    iw_buf_free(&out);
out:
    free(own[0]);
    free(own[1]);
    return rc;
}

/* Stage the layers' files (those in `which`, as pieces in b[l]), a "[]"
 * for a layer file that does not exist yet (all three files exist after
 * the first write), and the snapshot (b[IW_REG_MERGED]); then commit. */
int rs_write_files(iw_registry *r, iovb b[3], unsigned which)
{
    static const char EMPTY[] = "[]\n";
    stage st[3];
    size_t ns = 0;
    int rc = 0;
    iovb empty[2];
    memset(empty, 0, sizeof empty);
    for (int l = IW_REG_DISCOVERED; l >= IW_REG_CURATED && rc == 0; l--) {
        iovb *src = &b[l];
        if (!(which & (1u << l))) {
            if (iw_path_exists(r->paths[l]) || (l == IW_REG_DISCOVERED && r->legacy))
                continue;
            if ((rc = rs_iovb_add(&empty[l], EMPTY, sizeof EMPTY - 1)) < 0)
                break;
            src = &empty[l];
        }
        rc = stage_file(r, l, src, &st[ns++]);
    }
    if (rc == 0)
        rc = stage_file(r, IW_REG_MERGED, &b[IW_REG_MERGED], &st[ns++]);
    if (rc == 0)
        rc = stage_commit(r, st, ns);
    else
        stage_abort(st, ns);
    for (int l = 0; l < 2; l++)
        rs_iovb_free(&empty[l]);
    return rc;
}

/* Whole-array transaction (migrate, reconcile, maintenance): every entry is
 * parsed, handed over as arrays, and the changed files printed whole. */
cJSON *rs_layer_take_tree(reg_layer *L)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    for (size_t i = 0; i < L->n; i++) {
        if (L->ents[i].deleted)
            continue;
        cJSON *j = rs_ent_json(L, i);
        if (!j) {
            cJSON_Delete(arr);
            return NULL;
        }
        L->ents[i].json = NULL;   /* the array owns it now */
        cJSON_AddItemToArray(arr, j);
    }
    return arr;
}

/* Give the trees back to the entries when the array still lists them in
 * order (entry pointers handed out before stay valid); else drop them. */
void rs_layer_give_tree(reg_layer *L, cJSON *arr)
{
    size_t k = 0;
    bool same = true;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const char *nm = iw_json_get_str(e, "name");
        if (k >= L->n || !nm || strcmp(nm, L->ents[k].name) != 0) {
            same = false;
            break;
        }
        k++;
    }
    if (!same || k != L->n) {
        cJSON_Delete(arr);
        return;
    }
    cJSON *c = arr->child;
    arr->child = NULL;
    for (k = 0; c; k++) {
        cJSON *next = c->next;
        c->next = c->prev = NULL;
        cJSON_Delete(L->ents[k].json);
        L->ents[k].json = c;
        c = next;
    }
    cJSON_Delete(arr);
}

/* Print layer L's whole array, its entries' untouched numbers spelled as
 * in L's text (arr is printed and then freed: changed in place). */
int rs_print_into(iovb *b, cJSON *arr, const reg_layer *L, const char *path)
{
    cJSON *e;
    cJSON_ArrayForEach(e, arr)
        if (rs_keep_tokens(L, e) < 0)
            return iw_error_set(IW_ENOMEM, "registry: out of memory serialising '%s'", path);
    char *t = iw_json_print(arr);
    if (!t)
        return iw_error_set(IW_ENOMEM, "registry: out of memory serialising '%s'", path);
    return rs_iovb_own(b, t, strlen(t));
}

