#include "iwtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const char *env_or(const char *k, const char *d)
{
    const char *v = getenv(k);
    return (v && *v) ? v : d;
}

const char *iwt_source_dir(void) { return env_or("IW_SOURCE_DIR", "."); }
const char *iwt_build_dir(void)  { return env_or("IW_BUILD_DIR", "build"); }
const char *iwt_cli(void)        { return env_or("IW_CLI", "build/imageworks-download"); }
const char *iwt_fakehub(void)    { return env_or("IW_FAKEHUB", "build/fakehub"); }

const char *iwt_corpus_dir(void)
{
    static char path[4096];
    const char *c = getenv("IW_CORPUS_DIR");
    if (!c || !*c) {
        snprintf(path, sizeof path, "%s/../shared/corpus", iwt_source_dir());
        c = path;
    }
    struct stat st;
    if (stat(c, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    return c;
}

const char *iwt_fixture(const char *rel)
{
    static __thread char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/%s", iwt_source_dir(), rel);
    return path;
}

char *iwt_tmpdir(const char *tag)
{
    char tmpl[512];
    const char *base = env_or("TMPDIR", "/tmp");
    snprintf(tmpl, sizeof tmpl, "%s/iwtest-%s-XXXXXX", base, tag ? tag : "t");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

void iwt_rm_rf(const char *path)
{
    if (!path || !*path || strcmp(path, "/") == 0)
        return;
    char cmd[8600];
    /* and the downloader's state kept beside a folder: <parent>/.<name>.iwdl-* */
    const char *slash = strrchr(path, '/');
    if (slash && slash[1])
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%.*s/.%s.iwdl-'*", path, (int)(slash - path), path, slash + 1);
    else
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) { /* best effort */ }
}

char *iwt_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap + 1);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(b, cap * 2 + 1);
            if (!nb) { free(b); b = NULL; break; }
            b = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!b)
        return NULL;
    b[n] = 0;
    if (len)
        *len = n;
    return b;
}

int iwt_write(const char *path, const void *data, size_t len)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
        if (system(cmd) != 0)
            return -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

static char *slurp_and_unlink(const char *p)
{
    char *s = iwt_slurp(p, NULL);
    unlink(p);
    return s;
}

int iwt_run(const char *cmdline, char **out, char **err)
{
    char o[] = "/tmp/iwt-out-XXXXXX", e[] = "/tmp/iwt-err-XXXXXX";
    int fo = mkstemp(o), fe = mkstemp(e);
    if (fo < 0 || fe < 0)
        return -1;
    close(fo);
    close(fe);
    size_t n = strlen(cmdline) + 128;
    char *cmd = malloc(n);
    if (!cmd)
        return -1;
    snprintf(cmd, n, "( %s ) >%s 2>%s </dev/null", cmdline, o, e);
    int st = system(cmd);
    free(cmd);
    char *so = slurp_and_unlink(o), *se = slurp_and_unlink(e);
    if (out) *out = so; else free(so);
    if (err) *err = se; else free(se);
    if (st == -1)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
