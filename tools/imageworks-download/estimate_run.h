/* estimate_run.h - the estimate pipeline shared by `estimate` and `serve`
 * (POST /estimate): resolve the model, apply overrides and the profile,
 * estimate, solve the inverse, judge, recommend, emit and apply.  One
 * request in, one result out, so both front ends give the same answers. */
#ifndef IW_ESTIMATE_RUN_H
#define IW_ESTIMATE_RUN_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "iwdl/estimate.h"
#include "iwdl/registry.h"

typedef struct est_request {
    const char      *target;         /* registry NAME, PATH, org/name REPO, ollama:NAME:TAG */
    iw_est_opts      opts;           /* engine, context, batch, kv, tp, gpu_util, vram, engine knobs */
    iw_est_overrides ov;
    bool             engine_set, ctx_set, batch_set;
    const char      *profile;        /* --profile NAME; NULL = the GPU's, else the set's default */
    const char      *profiles_file;  /* --profiles FILE; NULL = env / XDG / shipped only */
    const char      *gpu;            /* --gpu NAME, looked up in the profile set */
    bool             apply;
    bool             calibrate;      /* correct the heuristic terms with the entry's newest measured start */
    bool             emit_set;
    iw_emit_kind     emit;
    int              port;           /* for emitted launches; 0 = the entry's port, else the engine default */
    bool             names_only;     /* only registry NAMEs (serve: never a path or a network fetch) */
} est_request;

void est_request_init(est_request *r);

typedef struct est_result {
    int    exit_code;   /* 0 ok, 1 failure (does not fit, model unreadable), 2 usage */
    char  *error;       /* one line, without the program prefix; NULL when ok */
    cJSON *json;        /* the --json document (also on "does not fit") */
    char  *text;        /* the human table */
    char  *emitted;     /* --emit text, when asked and something fits */
    char  *applied_to;  /* --apply: the file written */
    char  *apply_warning;
    int    apply_error; /* --apply fitted but writing the registry failed: the iw_error_code */
} est_result;

void est_result_free(est_result *r);

/* reg may be NULL (then NAME targets are unknown and --apply fails). */
int est_run(iw_registry *reg, const est_request *req, est_result *res);

#endif
