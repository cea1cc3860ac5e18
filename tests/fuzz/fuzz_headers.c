/* fuzz_headers.c - libFuzzer harness: HTTP response headers as libcurl
 * hands them to the header callback (one line per call), then what the
 * client derives from them: the ETag (X-Linked-Etag preferred, W/ and
 * quotes stripped), Content-Range "bytes a-b/total", the Link rel="next"
 * URL, a Location resolved against the request URL (http and https only),
 * Retry-After.  Each line is also fed alone to the Content-Range and Link
 * parsers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/hub.h"
#include "downloader/hub_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void derive(const iw_hdrs *h)
{
    char etag[128];
    const char *e = iw_hdrs_etag(h, etag, sizeof etag);
    if (e && strlen(e) >= sizeof etag)
        abort();
    uint64_t a, b, t;
    if (h->content_range && iw_parse_content_range(h->content_range, &a, &b, &t) == 0 && (a > b || b >= t))
        abort();
    free(iw_hub_link_next(h->link));
    char *loc = h->location ? iw_hub_resolve_location("https://huggingface.co/api/models/o/n/tree/main", h->location)
                            : NULL;
    if (loc && strncmp(loc, "http://", 7) && strncmp(loc, "https://", 8))
        abort();
    if (h->location && !loc)
        (void)iw_hub_redirect_refused("fuzz", "https://huggingface.co/", h->location);
    free(loc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    iw_hdrs h;
    memset(&h, 0, sizeof h);
    iw_hdrs_reset(&h);
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        char *line = malloc(len + 1);   /* curl's buffer is not NUL-terminated: neither is this one's use */
        if (!line)
            break;
        memcpy(line, p, len);
        if (iw_hdrs_cb(line, 1, len, &h) != len)
            abort();
        line[len] = 0;
        uint64_t a, b, t;
        if (iw_parse_content_range(line, &a, &b, &t) == 0 && (a > b || b >= t))
            abort();
        free(iw_hub_link_next(line));
        free(line);
        p += len;
    }
    derive(&h);
    iw_hdrs_reset(&h);
    iw_error_clear();
    return 0;
}
