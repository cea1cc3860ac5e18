/* ollama_api.h - a running Ollama server (src/downloader/ollama_api.c,
 * libcurl): the model's record from POST /api/show, as a file provider for
 * iw_inspect (inspect.h), which maps the answer (iw_ollama_show_to_arch,
 * ollama.h, in the extractors, which this module does not link).  See
 * docs/formats/ollama.md. */
#ifndef IWDL_OLLAMA_API_H
#define IWDL_OLLAMA_API_H

#include "ollama_ref.h"
#include "provider.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default OLLAMA_HOST when unset. */
#define IW_OLLAMA_DEFAULT_HOST "http://127.0.0.1:11434"

/* $OLLAMA_HOST when set and not empty, else NULL: whether the user named a
 * server.  The one place OLLAMA_HOST is read. */
const char *iw_ollama_env_host(void);

/* Base URL from host (NULL: iw_ollama_env_host(), else
 * IW_OLLAMA_DEFAULT_HOST), read as Ollama itself reads OLLAMA_HOST:
 * "host[:port]" means http with port 11434; "http://host" / "https://host"
 * without a port mean 80 / 443; an empty host means 127.0.0.1; IPv6 in
 * brackets; a path is kept.  "0.0.0.0:11434" -> "http://0.0.0.0:11434".
 * (malloc'd) */
int iw_ollama_host_url(const char *host, char **out);

/* Model `ref` (any spelling of ollama_ref.h) on the server at host (NULL:
 * as iw_ollama_host_url).  Listing POSTs <host>/api/show {"model":
 * "<name>:<tag>", "verbose": true} and lists the answer as one file of role
 * IW_FILE_OLLAMA_SHOW (cited by its URL), with sources "ollama:<ref>" and
 * "ollama-api:<url>"; iw_inspect maps it (a->source "ollama-api").  Listing
 * errors: IW_ENET when the server cannot be reached ("... set OLLAMA_HOST"),
 * IW_ENOTFOUND on 404 (model not pulled), IW_EHTTP on other statuses,
 * IW_ELIMIT when the answer exceeds IW_OLLAMA_MAX_SHOW.  Timeouts: 5 s to
 * connect, 60 s without data.  A bad reference fails here. */
int iw_ollama_api_provider_new(iw_provider **out, const char *ref, const char *host);

#ifdef __cplusplus
}
#endif
#endif
