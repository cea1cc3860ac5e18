/* hub_internal.h - pieces of the hub client shared with the transfer engine. */
#ifndef IW_HUB_INTERNAL_H
#define IW_HUB_INTERNAL_H

#include <curl/curl.h>
#include "iwdl/hub.h"
#include "iwdl/buf.h"

#define IW_HUB_RETRY_AFTER_CAP 60  /* seconds */

struct iw_hub {
    char *endpoint;
    char *token;            /* NULL when none; never printed */
    char *auth_header;      /* "Authorization: Bearer <token>" */
    char *cainfo, *capath;
    bool  offline;
    long  timeout_s;
    long  retry_base_ms;    /* API retries: 1,2,4 x base */
    CURLSH *share;          /* shared DNS + connection cache */
};

/* Common easy-handle setup: timeouts, TLS verification on, no libcurl
 * redirects, HTTP/2 over TLS when offered, CA bundle, user agent, share. */
void iw_hub_setup_easy(const iw_hub *hub, CURL *e);

/* Header list for url: Authorization only if url is on the hub origin,
 * plus extra (may be NULL).  Returns NULL on allocation failure. */
struct curl_slist *iw_hub_headers(const iw_hub *hub, const char *url, const char *extra1, const char *extra2);

/* "scheme://host:port" of url (lower case, default port filled in), the key
 * the engine counts connections per host by; malloc'd, NULL if unparsable. */
char *iw_hub_origin_key(const char *url);

/* Resolve a (possibly relative) Location against base; malloc'd or NULL
 * (also for anything but http and https). */
char *iw_hub_resolve_location(const char *base, const char *location);
/* The error for a Location iw_hub_resolve_location refused: names the
 * scheme of a file:, ftp:, ... redirect (IW_EUNSAFE), else a bad Location. */
int   iw_hub_redirect_refused(const char *what, const char *from, const char *location);

/* Collected response headers (header callback helper). */
typedef struct iw_hdrs {
    char *location, *x_error_code, *x_error_message, *link, *etag, *linked_etag,
         *linked_size, *repo_commit, *content_range;
    long  retry_after;      /* -1 when absent */
    long  status;           /* last status line seen */
} iw_hdrs;
void   iw_hdrs_reset(iw_hdrs *h);
size_t iw_hdrs_cb(char *p, size_t sz, size_t n, void *ud);
/* Normalised etag (W/ and quotes stripped) preferring X-Linked-Etag; may be NULL. */
const char *iw_hdrs_etag(const iw_hdrs *h, char *buf, size_t bufsz);
/* Parse "bytes a-b/total"; returns 0 on success. */
int iw_parse_content_range(const char *v, uint64_t *a, uint64_t *b, uint64_t *total);

bool iw_is_hex(const char *s, size_t n);
uint64_t iw_now_ms(void);

#endif
