/* ollama_ref.h - Ollama model references (src/common/ollama_ref.c).
 *
 * A reference names a model the way Ollama does: [registry/][namespace/]name[:tag],
 * written "ollama:NAME[:TAG]" (also "ollama:/", "ollama://") in this tool's
 * paths and as a bare "NAME[:TAG]" in a served_model_id.  Parsed once here
 * for the store (ollama.h), the server (ollama_api.h) and the registry. */
#ifndef IWDL_OLLAMA_REF_H
#define IWDL_OLLAMA_REF_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IW_OLLAMA_DEFAULT_REGISTRY  "registry.ollama.ai"
#define IW_OLLAMA_DEFAULT_NAMESPACE "library"
#define IW_OLLAMA_DEFAULT_TAG       "latest"

/* Component caps (as in Ollama's own name validation). */
#define IW_OLLAMA_MAX_REGISTRY 350
#define IW_OLLAMA_MAX_PART     80      /* namespace, name, tag */

/* An /api/show answer, as fetched (ollama_api.h) and as mapped (ollama.h):
 * the verbose one includes the vocabulary. */
#define IW_OLLAMA_MAX_SHOW     (256u << 20)

typedef struct iw_ollama_ref {
    char registry[IW_OLLAMA_MAX_REGISTRY + 1];
    char ns[IW_OLLAMA_MAX_PART + 1];
    char name[IW_OLLAMA_MAX_PART + 1];
    char tag[IW_OLLAMA_MAX_PART + 1];
} iw_ollama_ref;

/* True when s starts with "ollama:" (any of the three spellings). */
bool iw_ollama_is_ref(const char *s);

/* Parse "ollama://NAME[:TAG]", "ollama:/NAME[:TAG]", "ollama:NAME[:TAG]" or a
 * plain served_model_id "NAME[:TAG]".  NAME is "name", "namespace/name" or
 * "registry/namespace/name"; defaults: registry.ollama.ai, library, latest.
 * Every component becomes a path component, so each is checked: it starts
 * with a letter, digit or '_', continues with letters, digits, '_', '-', '.'
 * (the registry may also hold one ":port"), contains no "..", and fits its
 * cap.  "@digest" references are not supported.  Returns 0 or IW_EINVAL with
 * a one-line error naming the reference and the bad component. */
int iw_ollama_parse_ref(const char *s, iw_ollama_ref *out);

/* The reference without its "ollama:", "ollama:/" or "ollama://" prefix
 * (s itself when it has none). */
const char *iw_ollama_ref_bare(const char *s);

/* Does `s` (any spelling, may be NULL) name the model `ref` names?  Names
 * compare without case, as Ollama's do; an unparsable s names nothing. */
bool iw_ollama_ref_same(const char *s, const iw_ollama_ref *ref);

/* Check one component [s, s+n) -- the registry (is_registry: may hold one
 * ":port"), a namespace, name or tag -- by the rules above and copy it into
 * dst (IW_OLLAMA_MAX_REGISTRY + 1 bytes for a registry, IW_OLLAMA_MAX_PART + 1
 * otherwise).  IW_EINVAL naming `ref` and `what`. */
int iw_ollama_ref_part(const char *ref, const char *what, const char *s, size_t n, bool is_registry, char *dst);

/* Short display form: "name:tag" for library models on registry.ollama.ai,
 * "ns/name:tag" on registry.ollama.ai, else "registry/ns/name:tag". */
int iw_ollama_ref_format(const iw_ollama_ref *ref, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
