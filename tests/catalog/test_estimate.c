/* iw_catalog_estimate: one request in, one answer out (estimate and serve). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwtest.h"
#include "iwdl/catalog.h"
#include "iwdl/error.h"
#include "iwdl/json.h"

Test(catalog_estimate, a_local_model_against_a_budget)
{
    iw_estimate_request rq;
    iw_catalog_estimate_request_init(&rq);
    rq.target = iwt_fixture("models/tiny-llama");
    rq.opts.vram_bytes = (int64_t)24 << 30;
    iw_estimate_answer res;
    cr_assert_eq(iw_catalog_estimate(NULL, &rq, &res), 0, "%s", res.error ? res.error : iw_error_last());
    cr_assert_eq(res.status, 0);
    cr_assert_null(res.error);
    cr_assert_not_null(res.json);
    cr_assert_not_null(res.text);
    cr_assert(strstr(res.text, "verdict:") != NULL, "%s", res.text);
    cr_assert_str_eq(iw_json_get_str(res.json, "model"), rq.target);
    cr_assert_not_null(cJSON_GetObjectItemCaseSensitive(res.json, "profile"));
    iw_catalog_estimate_answer_free(&res);
}

Test(catalog_estimate, an_unknown_name_fails_with_one_line)
{
    iw_estimate_request rq;
    iw_catalog_estimate_request_init(&rq);
    rq.target = "no-such-entry";
    rq.names_only = true;
    iw_estimate_answer res;
    cr_assert_lt(iw_catalog_estimate(NULL, &rq, &res), 0);
    cr_assert_neq(res.status, 0);
    cr_assert_not_null(res.error);
    cr_assert(strstr(res.error, "no-such-entry") != NULL, "%s", res.error);
    cr_assert_str_eq(iw_error_last(), res.error);
    iw_catalog_estimate_answer_free(&res);
}
