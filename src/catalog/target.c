/* target.c - what a user named as a model, as a file provider (catalog.h). */
#include "iwdl/catalog.h"

#include <string.h>

#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/hub.h"
#include "iwdl/json.h"
#include "iwdl/ollama.h"
#include "iwdl/ollama_api.h"
#include "iwdl/registry.h"

bool iw_catalog_is_repo_id(const char *s)
{
    if (iw_path_exists(s) || s[0] == '/' || s[0] == '.' || strncmp(s, "ollama:", 7) == 0)
        return false;
    const char *slash = strchr(s, '/');
    return slash && slash != s && slash[1] && !strchr(slash + 1, '/');
}

int iw_catalog_provider(const char *target, const char *revision, iw_provider **out)
{
    *out = NULL;
    if (iw_ollama_is_ref(target)) {
        iw_provider *store = NULL, *server = NULL;
        int rc = iw_provider_ollama_store(&store, target, NULL);
        const char *host = iw_ollama_env_host();
        if (rc < 0 || !host) {          /* without OLLAMA_HOST nothing touches the network */
            *out = store;
            return rc;
        }
        if ((rc = iw_ollama_api_provider_new(&server, target, host)) < 0) {
            iw_provider_free(store);
            return rc;
        }
        return iw_provider_chain(out, store, server, "the server");
    }
    if (iw_catalog_is_repo_id(target))
        return iw_hub_provider_new(out, NULL, target, revision);
    return iw_provider_local(out, target);
}

int iw_catalog_inspect(const char *target, const char *revision, const iw_inspect_opts *o, iw_arch *a,
                       int64_t *transferred)
{
    iw_provider *p = NULL;
    int rc = iw_catalog_provider(target, revision, &p);
    if (rc == 0)
        rc = iw_inspect(p, o, a);
    if (transferred)
        *transferred = rc == 0 && iw_catalog_is_repo_id(target) && p->transferred >= 0 ? p->transferred : -1;
    iw_provider_free(p);
    return rc;
}

bool iw_catalog_entry_installed(const cJSON *e)
{
    const char *ref = NULL, *alt = NULL;
    if (iw_registry_ollama_refs(e, &ref, &alt)) {
        const char *try[2] = {ref, alt};
        for (int i = 0; i < 2; i++) {
            iw_ollama_ref r;
            iw_ollama_manifest m;
            if (!try[i] || iw_ollama_parse_ref(try[i], &r) < 0)
                continue;
            if (iw_ollama_resolve(&r, NULL, &m) == 0) {
                iw_ollama_manifest_free(&m);
                return true;
            }
        }
        iw_error_clear();
        return false;
    }
    const char *dp = iw_json_get_str(e, "download_path");
    return dp && *dp && iw_path_exists(dp);
}
