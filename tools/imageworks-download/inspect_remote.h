/* inspect_remote.h - remote (HTTP Range) inspection and tensor listings for `inspect`. */
#ifndef IW_INSPECT_REMOTE_H
#define IW_INSPECT_REMOTE_H

#include <stdint.h>
#include "iwdl/arch.h"

/* Architecture of a Hub repo from config.json, quantization configs and the
 * headers of its safetensors or GGUF files, read by HTTP Range; weights are
 * never downloaded.  *transferred = bytes received from the network.
 * tensors_csv (may be NULL) receives the tensor listing. */
int inspect_remote(const char *repo, const char *rev, const char *tensors_csv,
                   iw_arch *a, int64_t *transferred);

/* Tensor listing (kind,name,shape,dtype) of a local folder or file. */
int inspect_write_tensors(const char *path, const char *csv_path);

#endif
