/* ollama_cli.h - Ollama models in the commands (docs/formats/ollama.md,
 * "Wiring"): which registry entries are Ollama models, and the entry `scan`
 * writes for a model of a store. */
#ifndef IW_OLLAMA_CLI_H
#define IW_OLLAMA_CLI_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "iwdl/arch.h"
#include "iwdl/registry.h"

/* Is registry entry e an Ollama model?  True when its download_path is an
 * ollama: reference, or its backend is "ollama" and it has a
 * served_model_id (not the original's "None").  *ref is the reference to
 * try first (download_path when it is one, else served_model_id); *alt
 * (may be NULL) the served_model_id when it names another reference, to
 * try when *ref is not found. */
bool cli_ollama_entry_refs(const cJSON *e, const char **ref, const char **alt);

/* Register (or update) the discovered entry of model `ref` of the store at
 * root, with its extracted architecture `a`, in the shape the original's
 * importer (scripts/import_ollama_models.py) writes: backend "ollama",
 * download_path "ollama:/<name:tag>", served_model_id "<name:tag>",
 * source_provider "ollama", download_format "gguf".  An entry that already
 * names the same model (by download_path or served_model_id, in either
 * layer) is updated in place: metadata.architecture, the size, and only
 * the keys it lacks.  location: download_location of a new entry (NULL:
 * linux_wsl).  *name_out (malloc'd) the entry's name; *changed false when
 * nothing had to be written. */
int cli_ollama_register(iw_registry *r, const char *ref, const char *root, const iw_arch *a,
                        const char *location, char **name_out, bool *changed);

/* Is the model of registry entry e on this machine?  An Ollama entry: its
 * manifest resolves in the store ($OLLAMA_MODELS or the default); any other:
 * its download_path exists.  Entries without a path are not installed. */
bool cli_entry_installed(const cJSON *e);

#endif
