/* engine.h - internal interface of the transfer engine (engine.c) used by
 * download.c, which owns layouts, manifests and the repo-level flow. */
#ifndef IW_ENGINE_H
#define IW_ENGINE_H

#include "hub_internal.h"
#include "iwdl/download.h"

typedef struct iw_dl_file {
    char    *path;          /* repo-relative (checked) */
    char    *url;           /* resolve URL on the hub */
    uint64_t size;
    char     oid[41];
    char     sha256[65];
    bool     lfs;
    char    *final_path;    /* where the verified file goes */
    char    *link_path;     /* HF cache: snapshots/<commit>/<path>; else NULL */
    char    *part_path, *state_path, *lock_path;
    bool     done, skipped;
    uint64_t resumed_bytes;
} iw_dl_file;

typedef struct iw_engine_opts {
    int      jobs, connections;
    uint64_t split_min;
    uint64_t chunk;
    long     retry_base_ms;
    /* layout hooks (ud_layout): already there and verified? place a verified
     * partial; record a missing entry */
    bool (*is_present)(iw_dl_file *f, void *ud);
    int  (*place)(iw_dl_file *f, void *ud);
    void (*no_exist)(iw_dl_file *f, void *ud);
    void *ud_layout;
    iw_dl_event_fn on_event;
    void *ud;
    volatile int *cancel;
} iw_engine_opts;

/* Fetch files; returns 0 when every file is done, else the first failure's
 * code with its message.  *fetched = bytes received from the network. */
int iw_engine_run(iw_hub *hub, iw_dl_file *files, size_t n, const iw_engine_opts *o, uint64_t *fetched);

#endif
