/* download_register.h - after `download`: extract the architecture of what
 * arrived and create/update its registry entry. */
#ifndef IW_DOWNLOAD_REGISTER_H
#define IW_DOWNLOAD_REGISTER_H

#include <stdbool.h>
#include "iwdl/download.h"

typedef struct dl_register_opts {
    const char *repo, *revision, *name, *backend;
    const char *support_dir;   /* folder holding the support repo's files, or NULL */
    const char *support_id;    /* its repo id */
    const char *support_note;  /* why that support repo was used (base model), recorded as a warning; or NULL */
    bool quiet, json;
} dl_register_opts;

/* Returns an exit code (IW_EXIT_OK / IW_EXIT_FAIL). */
int download_register(const iw_dl_result *r, const dl_register_opts *o);

#endif
