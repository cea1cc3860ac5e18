/* fuzz_estimate_request.c - libFuzzer harness: bytes as the JSON body of
 * serve's POST /estimate to iw_catalog_estimate_request_parse (the parser
 * every front end shares, src/catalog/request.c).
 * Checked: an accepted body leaves every set field inside its documented
 * range (docs/api.md) and borrows strings from the parsed tree; a refused
 * one leaves no tree behind and says why in one non-empty line. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/catalog.h"
#include "iwdl/error.h"
#include "iwdl/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const iw_estimate_request *rq)
{
    const iw_est_opts *o = &rq->opts;
    if (rq->ctx_set && (o->context < 1 || o->context > ((int64_t)1 << 31)))
        abort();
    if (rq->batch_set && (o->batch < 1 || o->batch > (1 << 20)))
        abort();
    if (o->tp < 1 || o->tp > 1024)
        abort();
    if (!isnan(o->gpu_util) && !(o->gpu_util > 0 && o->gpu_util <= 1))
        abort();
    if (o->vram_bytes != IW_UNKNOWN && o->vram_bytes <= 0)
        abort();
    if (rq->port < 0 || rq->port > 65535)
        abort();
    if (!isnan(rq->ov.params_b) && !(rq->ov.params_b > 0 && isfinite(rq->ov.params_b)))
        abort();
    const char *s[] = { rq->target, rq->gpu, rq->profile, rq->ov.quantization };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (s[i] && strlen(s[i]) > 256)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int need_model = 0; need_model < 2; need_model++) {
        iw_estimate_request rq;
        iw_catalog_estimate_request_init(&rq);
        struct cJSON *tree = NULL;
        iw_error_clear();
        if (iw_catalog_estimate_request_parse((const char *)data, size, need_model, &rq, &tree) == 0) {
            check_accepted(&rq);
            if (need_model && (!rq.target || !*rq.target))
                abort();
        } else {
            const char *m = iw_error_last();
            if (tree || !m || !*m || strchr(m, '\n'))
                abort();
        }
        cJSON_Delete(tree);
    }
    iw_error_clear();
    return 0;
}
