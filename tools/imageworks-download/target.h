/* target.h - what the user named on the command line as a file provider
 * for the library's inspection pipeline (iw_inspect, inspect.h):
 *   ollama:NAME[:TAG]   Ollama's store, then the server when OLLAMA_HOST is set
 *   org/name            a Hub repo by HTTP Range (headers only)
 *   anything else       a local folder or .gguf / .safetensors file */
#ifndef IW_TARGET_H
#define IW_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include "iwdl/inspect.h"
#include "iwdl/json.h"

int cli_provider(const char *target, const char *revision, iw_provider **out);

/* cli_provider + iw_inspect.  *transferred (may be NULL): bytes a remote
 * repo moved, -1 for anything else. */
int cli_inspect(const char *target, const char *revision, const iw_inspect_opts *o, iw_arch *a,
                int64_t *transferred);

/* Is the model of registry entry e on this machine?  An Ollama entry: its
 * manifest resolves in the store ($OLLAMA_MODELS or the default); any other:
 * its download_path exists.  Entries without a path are not installed. */
bool cli_entry_installed(const cJSON *e);

#endif
