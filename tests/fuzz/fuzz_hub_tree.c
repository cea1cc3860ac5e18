/* fuzz_hub_tree.c - libFuzzer harness: a Hub tree page (the answer of
 * /api/models/{repo}/tree/{rev}, whose entries paths-info answers share)
 * parsed by iw_hub_parse_tree_page, the whole input and then its two halves
 * appended to one listing (pagination).  Every kept file must have passed
 * the checks: a safe relative path outside .git and the state folder, a
 * 40-hex oid, a 64-hex sha256 when LFS, no duplicate path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/hub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const iw_hub_listing *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const iw_hub_file *f = &l->files[i];
        if (iw_path_check_relative(f->path, strlen(f->path)) < 0 || strlen(f->oid) != 40 ||
            (f->lfs && strlen(f->sha256) != 64) || !strncmp(f->path, ".imageworks/", 12) ||
            strstr(f->path, ".git/") == f->path)
            abort();
        for (size_t k = 0; k < i; k++)
            if (!strcmp(l->files[k].path, f->path))
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *t = malloc(size ? size : 1);
    if (!t)
        return 0;
    memcpy(t, data, size);
    iw_hub_listing l = { 0 };
    if (iw_hub_parse_tree_page(t, size, "fuzz tree", &l) == 0)
        check(&l);
    iw_hub_listing_free(&l);
    memset(&l, 0, sizeof l);
    size_t half = size / 2;
    if (iw_hub_parse_tree_page(t, half, "fuzz page 1", &l) == 0 &&
        iw_hub_parse_tree_page(t + half, size - half, "fuzz page 2", &l) == 0)
        check(&l);
    iw_hub_listing_free(&l);
    free(t);
    iw_error_clear();
    return 0;
}
