/* repo.c - a repo folder as the Hub sees it: listing, LFS rule, cached
 * hashes (git blob sha1 / sha256), revisions, tree entry JSON. */
#include "fakehub.h"
#include "iwdl/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

/* ---- hash cache: (dev, inode, size, mtime) -> hashes, computed once ---- */
typedef struct fh_hash_rec {
    dev_t dev; ino_t ino; uint64_t size; int64_t mtime_ns;
    char blob_sha1[41]; char sha256[65];
} fh_hash_rec;

static pthread_mutex_t g_hash_mu = PTHREAD_MUTEX_INITIALIZER;
static fh_hash_rec *g_hash;
static size_t g_hash_n, g_hash_cap;

void fh_hash_cache_free(void)
{
    pthread_mutex_lock(&g_hash_mu);
    free(g_hash);
    g_hash = NULL;
    g_hash_n = g_hash_cap = 0;
    pthread_mutex_unlock(&g_hash_mu);
}

static bool cache_get(const fh_entry *e, fh_hash_rec *out)
{
    bool found = false;
    pthread_mutex_lock(&g_hash_mu);
    for (size_t i = 0; i < g_hash_n; i++) {
        fh_hash_rec *h = &g_hash[i];
        if (h->ino == e->ino && h->dev == e->dev && h->size == e->size && h->mtime_ns == e->mtime_ns) {
            *out = *h;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&g_hash_mu);
    return found;
}

static void cache_put(const fh_hash_rec *rec)
{
    pthread_mutex_lock(&g_hash_mu);
    for (size_t i = 0; i < g_hash_n; i++) {
        fh_hash_rec *h = &g_hash[i];
        if (h->ino == rec->ino && h->dev == rec->dev) { /* replace a stale version */
            *h = *rec;
            pthread_mutex_unlock(&g_hash_mu);
            return;
        }
    }
    if (g_hash_n == g_hash_cap) {
        size_t nc = g_hash_cap ? g_hash_cap * 2 : 256;
        fh_hash_rec *nh = realloc(g_hash, nc * sizeof *nh);
        if (!nh) { /* cache is an optimisation only */
            pthread_mutex_unlock(&g_hash_mu);
            return;
        }
        g_hash = nh;
        g_hash_cap = nc;
    }
    g_hash[g_hash_n++] = *rec;
    pthread_mutex_unlock(&g_hash_mu);
}

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = 0;
}

static int sha1_hex(const void *data, size_t n, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, n, md, &mdlen, EVP_sha1(), NULL))
        return -1;
    to_hex(md, mdlen, out);
    return 0;
}

/* One pass over the file: git blob sha1 and sha256. */
static int hash_file(const char *path, fh_entry *e, fh_hash_rec *rec, char *msg, size_t msgn)
{
    int rc = -1;
    unsigned char *buf = NULL;
    EVP_MD_CTX *c1 = EVP_MD_CTX_new(), *c2 = EVP_MD_CTX_new();
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || !c1 || !c2) {
        snprintf(msg, msgn, "cannot open %s: %s", path, strerror(errno));
        goto cleanup;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(msg, msgn, "%s is not a regular file", path);
        goto cleanup;
    }
    buf = malloc(1 << 20);
    if (!buf)
        goto cleanup;
    char hdr[64];
    int hl = snprintf(hdr, sizeof hdr, "blob %llu", (unsigned long long)st.st_size);
    if (!EVP_DigestInit_ex(c1, EVP_sha1(), NULL) || !EVP_DigestInit_ex(c2, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(c1, hdr, (size_t)hl + 1))
        goto cleanup;
    for (;;) {
        ssize_t r = read(fd, buf, 1 << 20);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            snprintf(msg, msgn, "read %s: %s", path, strerror(errno));
            goto cleanup;
        }
        if (r == 0)
            break;
        if (!EVP_DigestUpdate(c1, buf, (size_t)r) || !EVP_DigestUpdate(c2, buf, (size_t)r))
            goto cleanup;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdl = 0;
    memset(rec, 0, sizeof *rec);
    if (!EVP_DigestFinal_ex(c1, md, &mdl))
        goto cleanup;
    to_hex(md, mdl, rec->blob_sha1);
    if (!EVP_DigestFinal_ex(c2, md, &mdl))
        goto cleanup;
    to_hex(md, mdl, rec->sha256);
    rec->dev = st.st_dev;
    rec->ino = st.st_ino;
    rec->size = (uint64_t)st.st_size;
    rec->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    /* the listing's stat and the one hashed must agree, else the entry is stale */
    e->dev = rec->dev;
    e->ino = rec->ino;
    e->size = rec->size;
    e->mtime_ns = rec->mtime_ns;
    rc = 0;
cleanup:
    if (fd >= 0)
        close(fd);
    free(buf);
    EVP_MD_CTX_free(c1);
    EVP_MD_CTX_free(c2);
    return rc;
}

bool fh_is_lfs_name(const char *path, uint64_t size)
{
    if (size >= g_fh.lfs_threshold)
        return true;
    size_t n = strlen(path);
    static const char *const ext[] = { ".safetensors", ".gguf", ".bin" };
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t k = strlen(ext[i]);
        if (n >= k && strcmp(path + n - k, ext[i]) == 0)
            return true;
    }
    return false;
}

int fh_repo_hash_entry(fh_repo *r, fh_entry *e, char *msg, size_t msgn)
{
    if (e->hashed || e->is_dir)
        return 0;
    fh_hash_rec rec;
    if (!cache_get(e, &rec)) {
        char *path = NULL;
        if (iw_path_join(&path, r->dir, e->path) < 0) {
            snprintf(msg, msgn, "unsafe path %s", e->path);
            return -1;
        }
        int rc = hash_file(path, e, &rec, msg, msgn);
        free(path);
        if (rc < 0)
            return -1;
        cache_put(&rec);
    }
    e->lfs = fh_is_lfs_name(e->path, e->size);
    memcpy(e->sha256, rec.sha256, sizeof e->sha256);
    if (e->lfs) {
        char ptr[256];
        int pl = snprintf(ptr, sizeof ptr,
                          "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %llu\n",
                          rec.sha256, (unsigned long long)e->size);
        char blob[300];
        int bl = snprintf(blob, sizeof blob, "blob %d", pl);
        memcpy(blob + bl + 1, ptr, (size_t)pl);
        if (sha1_hex(blob, (size_t)bl + 1 + (size_t)pl, e->oid) < 0)
            return -1;
        e->pointer_size = (uint64_t)pl;
    } else {
        memcpy(e->oid, rec.blob_sha1, sizeof e->oid);
    }
    e->hashed = true;
    return 0;
}

static bool seg_ok_name(const char *s)
{
    return iw_path_check_relative(s, strlen(s)) == 0 && !strchr(s, '/');
}

/* ---- listing ---- */
static int add_entry(fh_repo *r, size_t *cap, const char *rel, const struct stat *st, bool dir)
{
    if (r->n >= FH_MAX_ENTRIES)
        return -1;
    if (r->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        fh_entry *ne = realloc(r->entries, nc * sizeof *ne);
        if (!ne)
            return -1;
        r->entries = ne;
        *cap = nc;
    }
    fh_entry *e = &r->entries[r->n];
    memset(e, 0, sizeof *e);
    e->path = strdup(rel);
    if (!e->path)
        return -1;
    e->is_dir = dir;
    e->size = dir ? 0 : (uint64_t)st->st_size;
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    e->lfs = !dir && fh_is_lfs_name(rel, e->size);
    r->n++;
    return 0;
}

/* Walk the directory open as dfd (which walk closes).  Every step is
 * relative to a directory fd and never follows a symlink (fstatat with
 * AT_SYMLINK_NOFOLLOW, openat with O_NOFOLLOW), which is also much cheaper
 * than re-resolving absolute paths for every entry. */
static int walk(fh_repo *r, size_t *cap, int dfd, const char *rel, int depth,
                char *msg, size_t msgn)
{
    if (depth > FH_MAX_DEPTH) {
        close(dfd);
        snprintf(msg, msgn, "%s: nested deeper than %d", r->id, FH_MAX_DEPTH);
        return -1;
    }
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        snprintf(msg, msgn, "cannot list %s/%s: %s", r->id, rel, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0 || strcmp(nm, ".git") == 0)
            continue;
        char *crel = NULL;
        if (asprintf(&crel, "%s%s%s", rel, *rel ? "/" : "", nm) < 0) { rc = -1; break; }
        struct stat st;
        /* symlinks are neither listed nor followed; names a client could
         * not safely write are left out too */
        if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            iw_path_check_relative(crel, strlen(crel)) == 0) {
            if (S_ISDIR(st.st_mode)) {
                rc = add_entry(r, cap, crel, &st, true);
                if (rc == 0) {
                    int cfd = openat(dirfd(d), nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                    if (cfd >= 0)
                        rc = walk(r, cap, cfd, crel, depth + 1, msg, msgn);
                }
            } else if (S_ISREG(st.st_mode)) {
                rc = add_entry(r, cap, crel, &st, false);
            }
            if (rc < 0 && !*msg)
                snprintf(msg, msgn, "%s: too many entries or out of memory", r->id);
        }
        free(crel);
    }
    closedir(d);
    return rc;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const fh_entry *)a)->path, ((const fh_entry *)b)->path);
}

int fh_repo_list(fh_repo *r, char *msg, size_t msgn)
{
    if (r->listed)
        return 0;
    size_t cap = 0;
    msg[0] = 0;
    if (!r->exists) {
        snprintf(msg, msgn, "repository %s not found", r->id);
        return -1;
    }
    int dfd = open(r->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        snprintf(msg, msgn, "cannot open %s: %s", r->id, strerror(errno));
        return -1;
    }
    if (walk(r, &cap, dfd, "", 0, msg, msgn) < 0)
        return -1;
    if (r->n > 1)
        qsort(r->entries, r->n, sizeof *r->entries, cmp_entry);
    r->listed = true;
    return 0;
}

fh_entry *fh_repo_find(fh_repo *r, const char *path)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->entries[mid].path, path);
        if (c == 0)
            return &r->entries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int fh_repo_hash_all(fh_repo *r, char *msg, size_t msgn)
{
    if (r->hashed_all)
        return 0;
    if (fh_repo_list(r, msg, msgn) < 0)
        return -1;
    for (size_t i = 0; i < r->n; i++)
        if (fh_repo_hash_entry(r, &r->entries[i], msg, msgn) < 0)
            return -1;
    /* directory ids: sha1 over "path\0oid\n" of the files below; the
     * default main commit: the same over every file */
    for (size_t i = 0; i <= r->n; i++) {
        const char *prefix = i < r->n ? r->entries[i].path : "";
        if (i < r->n && !r->entries[i].is_dir)
            continue;
        size_t pl = strlen(prefix);
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        if (!c || !EVP_DigestInit_ex(c, EVP_sha1(), NULL)) {
            EVP_MD_CTX_free(c);
            return -1;
        }
        for (size_t j = 0; j < r->n; j++) {
            const fh_entry *e = &r->entries[j];
            if (e->is_dir)
                continue;
            if (pl && !(strncmp(e->path, prefix, pl) == 0 && e->path[pl] == '/'))
                continue;
            EVP_DigestUpdate(c, e->path, strlen(e->path) + 1);
            EVP_DigestUpdate(c, e->oid, 40);
            EVP_DigestUpdate(c, "\n", 1);
        }
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdl = 0;
        EVP_DigestFinal_ex(c, md, &mdl);
        EVP_MD_CTX_free(c);
        to_hex(md, mdl, i < r->n ? r->entries[i].oid : r->main_sha);
        if (i < r->n)
            r->entries[i].hashed = true;
    }
    r->hashed_all = true;
    return 0;
}

static bool is_hex40(const char *s)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == 40;
}

int fh_repo_resolve_rev(fh_repo *r, const char *rev, char out[41], char *msg, size_t msgn)
{
    const cJSON *revs = r->meta ? cJSON_GetObjectItemCaseSensitive(r->meta, "revisions") : NULL;
    if (cJSON_IsObject(revs)) {
        const char *name = strcmp(rev, "HEAD") == 0 ? "main" : rev;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(revs, name);
        if (cJSON_IsString(v) && is_hex40(v->valuestring)) {
            memcpy(out, v->valuestring, 41);
            return 0;
        }
        if (is_hex40(rev)) {
            const cJSON *it;
            cJSON_ArrayForEach(it, revs) {
                if (cJSON_IsString(it) && strcmp(it->valuestring, rev) == 0) {
                    memcpy(out, rev, 41);
                    return 0;
                }
            }
        }
    } else {
        if (fh_repo_hash_all(r, msg, msgn) < 0)
            return -1;
        if (strcmp(rev, "main") == 0 || strcmp(rev, "HEAD") == 0 || strcmp(rev, r->main_sha) == 0) {
            memcpy(out, r->main_sha, 41);
            return 0;
        }
    }
    snprintf(msg, msgn, "Invalid rev id: %s", rev);
    return -1;
}

cJSON *fh_entry_json(const fh_repo *r, const fh_entry *e, bool expand, const char *commit)
{
    (void)r;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "type", e->is_dir ? "directory" : "file");
    cJSON_AddStringToObject(o, "oid", e->oid);
    cJSON_AddNumberToObject(o, "size", (double)e->size);
    if (!e->is_dir && e->lfs) {
        cJSON *l = cJSON_AddObjectToObject(o, "lfs");
        cJSON_AddStringToObject(l, "oid", e->sha256);
        cJSON_AddNumberToObject(l, "size", (double)e->size);
        cJSON_AddNumberToObject(l, "pointerSize", (double)e->pointer_size);
    }
    cJSON_AddStringToObject(o, "path", e->path);
    if (expand) {
        cJSON *lc = cJSON_AddObjectToObject(o, "lastCommit");
        cJSON_AddStringToObject(lc, "id", commit);
        cJSON_AddStringToObject(lc, "title", "fakehub snapshot");
        cJSON_AddStringToObject(lc, "date", "2024-01-01T00:00:00.000Z");
    }
    return o;
}

int fh_repo_open(fh_repo *r, const char *org, const char *name, char *msg, size_t msgn)
{
    memset(r, 0, sizeof *r);
    msg[0] = 0;
    r->org = strdup(org);
    r->name = strdup(name);
    if (!r->org || !r->name || asprintf(&r->id, "%s/%s", org, name) < 0 ||
        asprintf(&r->dir, "%s/%s/%s", g_fh.root, org, name) < 0) {
        r->id = NULL;
        snprintf(msg, msgn, "out of memory");
        return -1;
    }
    /* neither the org folder nor the repo folder may be a symlink */
    char *orgdir = NULL;
    struct stat st;
    if (asprintf(&orgdir, "%s/%s", g_fh.root, org) < 0)
        return -1;
    bool org_ok = lstat(orgdir, &st) == 0 && S_ISDIR(st.st_mode);
    free(orgdir);
    r->exists = org_ok && lstat(r->dir, &st) == 0 && S_ISDIR(st.st_mode);

    char *meta_path = NULL;
    if (asprintf(&meta_path, "%s/%s/%s.hub.json", g_fh.root, org, name) < 0)
        return -1;
    int rc = 0;
    if (org_ok && lstat(meta_path, &st) == 0 && S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > FH_MAX_META) {
            snprintf(msg, msgn, "%s larger than %u bytes", meta_path, FH_MAX_META);
            rc = -1;
        } else {
            iw_buf b = IW_BUF_INIT(FH_MAX_META);
            if (iw_read_file(meta_path, FH_MAX_META, &b) < 0) {
                snprintf(msg, msgn, "cannot read %s", meta_path);
                rc = -1;
            } else {
                r->meta = cJSON_ParseWithLength(b.data ? b.data : "", b.len);
                if (!cJSON_IsObject(r->meta)) {
                    snprintf(msg, msgn, "%s is not a JSON object", meta_path);
                    cJSON_Delete(r->meta);
                    r->meta = NULL;
                    rc = -1;
                }
            }
            iw_buf_free(&b);
        }
    }
    free(meta_path);
    return rc;
}

void fh_repo_free(fh_repo *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->entries[i].path);
    free(r->entries);
    free(r->org);
    free(r->name);
    free(r->id);
    free(r->dir);
    cJSON_Delete(r->meta);
    memset(r, 0, sizeof *r);
}

/* Hash every repo under the root once, before announcing readiness, so the
 * first request for a repo with multi-GB files answers as fast as later ones.
 * Failures are only warnings: the request that needs the hash reports them. */
void fh_prehash_all(void)
{
    DIR *rd = opendir(g_fh.root);
    if (!rd)
        return;
    struct dirent *o;
    while ((o = readdir(rd)) != NULL) {
        if (o->d_name[0] == '.' || !seg_ok_name(o->d_name))
            continue;
        char *orgdir = NULL;
        if (asprintf(&orgdir, "%s/%s", g_fh.root, o->d_name) < 0)
            break;
        struct stat st;
        DIR *od = (lstat(orgdir, &st) == 0 && S_ISDIR(st.st_mode)) ? opendir(orgdir) : NULL;
        free(orgdir);
        if (!od)
            continue;
        struct dirent *n;
        while ((n = readdir(od)) != NULL) {
            if (n->d_name[0] == '.' || !seg_ok_name(n->d_name))
                continue;
            fh_repo r;
            char msg[512];
            if (fh_repo_open(&r, o->d_name, n->d_name, msg, sizeof msg) == 0 && r.exists &&
                fh_repo_hash_all(&r, msg, sizeof msg) < 0)
                fprintf(stderr, "fakehub: warning: %s: %s\n", r.id, msg);
            fh_repo_free(&r);
        }
        closedir(od);
    }
    closedir(rd);
}
