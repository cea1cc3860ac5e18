/* hub.h - Hugging Face Hub client (API, revision pin, paginated tree, auth,
 * error mapping) and a remote iw_source reading files by HTTP Range.
 *
 * Configuration comes from the environment (iw_hub_new with NULL options):
 *   HF_ENDPOINT               default https://huggingface.co (trailing '/' stripped)
 *   HF_TOKEN                  bearer token; else the file HF_TOKEN_PATH
 *                             (default $HF_HOME/token, HF_HOME default ~/.cache/huggingface)
 *   HF_HUB_OFFLINE            1/ON/YES/TRUE: no network request is made; API calls
 *                             fail with IW_EOFFLINE
 *   HF_HUB_DOWNLOAD_TIMEOUT   seconds (default 10): connect timeout and stall timeout
 * Proxies (http_proxy, https_proxy, no_proxy) and CA bundles (CURL_CA_BUNDLE,
 * SSL_CERT_FILE) are read by libcurl / iw_hub_new.  TLS verification is always on.
 *
 * The token is sent only to the endpoint's scheme+host+port: redirects are
 * followed by this code, never by libcurl, and a request to any other origin
 * (the CDN) carries no Authorization header.  The token is never part of an
 * error message.
 */
#ifndef IWDL_HUB_H
#define IWDL_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arch.h"
#include "provider.h"
#include "reader.h"

typedef struct iw_hub iw_hub;

#define IW_HUB_OPTIONS_VERSION 1

typedef struct iw_hub_options {
    unsigned    version;    /* IW_HUB_OPTIONS_VERSION (iw_opts_version_check, error.h) */
    const char *endpoint;   /* NULL: HF_ENDPOINT or https://huggingface.co */
    const char *token;      /* NULL: HF_TOKEN / HF_TOKEN_PATH; "" = no token */
    int  offline;           /* -1: HF_HUB_OFFLINE; 0/1 explicit */
    long timeout_s;         /* 0: HF_HUB_DOWNLOAD_TIMEOUT or 10 */
} iw_hub_options;

#define IW_HUB_OPTIONS_INIT { IW_HUB_OPTIONS_VERSION, NULL, NULL, -1, 0 }

/* Caps on what the server may send. */
#define IW_HUB_MAX_API_BYTES   (64u << 20)  /* one API answer (JSON page) */
#define IW_HUB_MAX_PAGES       10000        /* tree pages followed */
#define IW_HUB_MAX_FILES       1000000      /* entries in one listing */
#define IW_HUB_MAX_REDIRECTS   5
#define IW_HUB_MAX_BASE_MODELS 16           /* cardData.base_model entries read */

int  iw_hub_new(iw_hub **out, const iw_hub_options *opts);
void iw_hub_free(iw_hub *hub);

const char *iw_hub_endpoint(const iw_hub *hub);
bool        iw_hub_is_offline(const iw_hub *hub);
bool        iw_hub_has_token(const iw_hub *hub);
long        iw_hub_timeout(const iw_hub *hub);

/* "org/name" (or "name"): letters, digits, '-', '_', '.', one '/' at most,
 * no "..", at most 96 characters per part.  IW_EINVAL otherwise. */
int iw_hub_check_repo_id(const char *repo);
/* A revision (branch, tag, commit) that is safe to send and to store as a
 * file under refs/: no control character, and a relative path without
 * '.', '..' or empty components (iw_path_check_relative). */
int iw_hub_check_revision(const char *rev);

/* GET /api/models/{repo}/revision/{rev} (rev NULL -> "main") and copy "sha"
 * (40 lowercase hex) into commit.  Errors: IW_ENOTFOUND (repo or revision),
 * IW_EAUTH (gated/private: "set HF_TOKEN"), IW_ENET, IW_EOFFLINE. */
int iw_hub_resolve_revision(iw_hub *hub, const char *repo, const char *rev, char commit[41]);

/* The model card's base models: cardData.base_model of the model info at rev
 * (GET /api/models/{repo}/revision/{rev}), a string or a list of strings.
 * Each "org/name" that passes iw_hub_check_repo_id is appended to out
 * (no duplicates, at most IW_HUB_MAX_BASE_MODELS read); anything else is
 * skipped.  No card or no base_model is not an error (nothing appended).
 * Errors as iw_hub_resolve_revision. */
int iw_hub_card_base_models(iw_hub *hub, const char *repo, const char *rev, iw_strlist *out);

typedef struct iw_hub_file {
    char    *path;        /* repo-relative, checked with iw_path_check_relative */
    uint64_t size;
    char     oid[41];     /* git blob sha1 */
    char     sha256[65];  /* lfs.oid when lfs */
    bool     lfs;
} iw_hub_file;

typedef struct iw_hub_listing {
    iw_hub_file *files;
    size_t       n;
    size_t       cap;
} iw_hub_listing;

/* Recursive listing of every file at commit, following Link rel="next"
 * (absolute URLs on the endpoint's origin only, at most IW_HUB_MAX_PAGES). */
int  iw_hub_list_files(iw_hub *hub, const char *repo, const char *commit, iw_hub_listing *out);
/* Parse one tree page (JSON array) and append its files to out.  Each path
 * is validated (IW_EUNSAFE names the entry) before anything is kept;
 * directories are skipped; oid/lfs.oid must be hex of the right length. */
int  iw_hub_parse_tree_page(const char *json, size_t len, const char *what, iw_hub_listing *out);
void iw_hub_listing_free(iw_hub_listing *l);

/* Parse a Link header value and return the rel="next" URL (malloc'd) or NULL. */
char *iw_hub_link_next(const char *link);

/* {endpoint}/{repo}/resolve/{rev}/{path} with rev and path percent-encoded
 * ('/' kept in path). */
int iw_hub_file_url(const iw_hub *hub, const char *repo, const char *rev, const char *path, char **out);

/* True when url has the same scheme, host and port as the endpoint. */
bool iw_hub_same_origin(const iw_hub *hub, const char *url);

/* Map an HTTP answer to an error code + one-line message (sets the error).
 * x_error_code may be NULL.  what names the object ("repo x", "file y"). */
int iw_hub_http_error(const iw_hub *hub, long status, const char *x_error_code,
                      const char *what, const char *url);

/* Remote reader over a repo file: read_at does HTTP Range GETs on the
 * resolved location (token only on the hub origin) with a 64 KiB read-ahead
 * cache; s->bytes_read counts bytes delivered, and iw_hub_source_transferred
 * the bytes received from the network.  Close with iw_source_close. */
int iw_hub_open_source(iw_source *out, iw_hub *hub, const char *repo, const char *rev, const char *path);
uint64_t iw_hub_source_transferred(const iw_source *s);

/* Repo at revision (NULL: main) as a file provider for iw_inspect
 * (inspect.h): listing resolves the commit and lists the tree (errors as
 * iw_hub_resolve_revision / iw_hub_list_files, a bad repo id IW_EINVAL);
 * files are cited "org/name/path" and read by HTTP Range, small files whole
 * (capped before they are fetched).  p->transferred counts the bytes
 * received.  hub NULL: one from the environment (iw_hub_new), freed with
 * the provider; else borrowed. */
int iw_hub_provider_new(iw_provider **out, iw_hub *hub, const char *repo, const char *revision);

#endif
