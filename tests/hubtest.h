/* hubtest.h - start/stop tools/fakehub from a test and talk to it.
 *
 * CMake compiles only tests/iwtest.c into each suite, so a suite using these
 * helpers adds `#include "hubtest.c"` once (tests/ is on the include path).
 * HTTP goes through libcurl (linked via iw_downloader). See docs/fakehub.md. */
#ifndef IWT_HUBTEST_H
#define IWT_HUBTEST_H

#include <stddef.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

typedef struct iwt_hub {
    pid_t pid;
    char  hub_url[128];   /* e.g. http://127.0.0.1:40123 */
    char  cdn_url[128];   /* e.g. http://127.0.0.2:40124 */
    char *dir;            /* private tmp dir holding the ready file and log */
    char  log_path[4096]; /* --log FILE (JSON lines) */
} iwt_hub;

/* Run `fakehub --make-demo root` (writes root/demo-org/tiny-llama). 0 = ok. */
int   iwt_hub_make_demo(const char *root);

/* Start fakehub over root with --ready-file/--log in a private dir, plus
 * extra_args (NULL-terminated, may be NULL).  Waits up to 20 s for the ready
 * line.  Returns 0, or -1 (fakehub stderr is echoed to our stderr). */
int   iwt_hub_start(iwt_hub *h, const char *root, const char *const *extra_args);
/* SIGTERM, wait for exit, remove the private dir.  Safe on a zeroed struct. */
void  iwt_hub_stop(iwt_hub *h);

/* POST /_control/fault; returns the fault id (> 0) or -1. */
int   iwt_hub_fault(iwt_hub *h, const char *fault_json);
/* POST /_control/reset; 0 or -1. */
int   iwt_hub_reset(iwt_hub *h);
/* GET /_control/log as text (malloc'd) or parsed (cJSON_Delete it); NULL on failure. */
char  *iwt_hub_log(iwt_hub *h);
cJSON *iwt_hub_log_json(iwt_hub *h);
/* GET /_control/stats text (malloc'd) or NULL. */
char  *iwt_hub_stats(iwt_hub *h);
/* One number of /_control/stats: key.host ("peak_active", "cdn"); -1 if absent. */
long   iwt_hub_stat(iwt_hub *h, const char *key, const char *host);

/* One HTTP request with libcurl; redirects are NOT followed.  headers is a
 * NULL-terminated list of "Name: value" lines (may be NULL); body may be NULL.
 * method "HEAD" sends a HEAD.  Returns 0 when a response arrived (any status),
 * -1 on transport failure (r->status 0; a body cut mid-way still fills
 * r->body with what arrived and sets r->transport_error). */
typedef struct iwt_http {
    long   status;
    char  *body;
    size_t body_len;
    char  *headers;        /* raw response header block */
    int    transport_error;/* CURLcode of the transfer (0 = complete) */
    double seconds;        /* total transfer time */
} iwt_http;
int   iwt_http_do(iwt_http *r, const char *method, const char *url,
                  const char *const *headers, const char *body);
/* Value of the last header `name` (case-insensitive) copied into out, or NULL. */
const char *iwt_http_header(const iwt_http *r, const char *name, char *out, size_t n);
void  iwt_http_free(iwt_http *r);

#endif
