/* kvs.c - typed access to GGUF-typed key/value metadata (see kvs.h).
 *
 * The type rules live here once, for GGUF headers and Ollama answers alike;
 * gguf.c's public getters are these getters over a header. */
#include "kvs.h"

#include <inttypes.h>
#include <string.h>

#include "iwdl/error.h"

static bool is_int_type(int t)
{
    return t == IW_GGUF_UINT8 || t == IW_GGUF_INT8 || t == IW_GGUF_UINT16 || t == IW_GGUF_INT16 ||
           t == IW_GGUF_UINT32 || t == IW_GGUF_INT32 || t == IW_GGUF_UINT64 || t == IW_GGUF_INT64 ||
           t == IW_GGUF_BOOL;
}

static bool is_unsigned_type(int t)
{
    return t == IW_GGUF_UINT8 || t == IW_GGUF_UINT16 || t == IW_GGUF_UINT32 || t == IW_GGUF_UINT64 ||
           t == IW_GGUF_BOOL;
}

static bool is_number_type(int t)
{
    return (is_int_type(t) && t != IW_GGUF_BOOL) || t == IW_GGUF_FLOAT32 || t == IW_GGUF_FLOAT64;
}

static int type_error(const iw_kvs *s, const char *key, int type, const char *want)
{
    return iw_error_set(IW_EFORMAT, "%s: key '%s' has type %s, expected %s", s->name, key,
                        iw_gguf_type_name(type), want);
}

static int scalar_int(const iw_kvs *s, const char *key, int type, iw_kv_scalar v, int64_t *out)
{
    if (!is_int_type(type))
        return type_error(s, key, type, "an integer");
    if (type == IW_GGUF_UINT64 && v.u > (uint64_t)INT64_MAX)
        return iw_error_set(IW_EFORMAT, "%s: key '%s': value %" PRIu64 " does not fit in int64",
                            s->name, key, v.u);
    *out = is_unsigned_type(type) ? (int64_t)v.u : v.i;
    return 0;
}

static int scalar_float(const iw_kvs *s, const char *key, int type, iw_kv_scalar v, double *out)
{
    if (type == IW_GGUF_FLOAT32 || type == IW_GGUF_FLOAT64) {
        *out = v.f;
        return 0;
    }
    if (!is_int_type(type) || type == IW_GGUF_BOOL)
        return type_error(s, key, type, "a number");
    *out = is_unsigned_type(type) ? (double)v.u : (double)v.i;
    return 0;
}

size_t iw_kvs_count(const iw_kvs *s) { return s->ops->count(s); }
long   iw_kvs_find(const iw_kvs *s, const char *key) { return key ? s->ops->find(s, key) : -1; }

/* Item i, or false when out of range. */
static bool item(const iw_kvs *s, size_t i, iw_kv_item *it)
{
    if (i >= s->ops->count(s))
        return false;
    s->ops->item(s, i, it);
    return true;
}

const char *iw_kvs_key(const iw_kvs *s, size_t i)
{
    iw_kv_item it;
    return item(s, i, &it) ? it.key : NULL;
}

iw_gguf_type iw_kvs_type(const iw_kvs *s, size_t i)
{
    iw_kv_item it;
    return item(s, i, &it) ? it.type : IW_GGUF_TYPE_COUNT;
}

int iw_kvs_int(const iw_kvs *s, size_t i, int64_t *out)
{
    iw_kv_item it;
    if (!item(s, i, &it))
        return IW_ENOTFOUND;
    return scalar_int(s, it.key, it.type, it.v, out);
}

int iw_kvs_float(const iw_kvs *s, size_t i, double *out)
{
    iw_kv_item it;
    if (!item(s, i, &it))
        return IW_ENOTFOUND;
    return scalar_float(s, it.key, it.type, it.v, out);
}

int iw_kvs_str(const iw_kvs *s, size_t i, const char **out, size_t *len)
{
    iw_kv_item it;
    if (!item(s, i, &it))
        return IW_ENOTFOUND;
    if (it.type != IW_GGUF_STRING)
        return type_error(s, it.key, it.type, "STRING");
    *out = it.str;
    if (len)
        *len = it.str_len;
    return 0;
}

int iw_kvs_array(const iw_kvs *s, size_t i, iw_gguf_type *elem_type, uint64_t *count)
{
    iw_kv_item it;
    if (!item(s, i, &it))
        return IW_ENOTFOUND;
    if (it.type != IW_GGUF_ARRAY)
        return type_error(s, it.key, it.type, "ARRAY");
    if (elem_type)
        *elem_type = it.elem;
    if (count)
        *count = it.count;
    return 0;
}

int iw_kvs_get_int(const iw_kvs *s, const char *key, int64_t *out)
{
    long i = iw_kvs_find(s, key);
    return i < 0 ? IW_ENOTFOUND : iw_kvs_int(s, (size_t)i, out);
}

int iw_kvs_get_uint(const iw_kvs *s, const char *key, uint64_t *out)
{
    iw_kv_item it;
    long i = iw_kvs_find(s, key);
    if (i < 0 || !item(s, (size_t)i, &it))
        return IW_ENOTFOUND;
    if (!is_int_type(it.type))
        return type_error(s, key, it.type, "an unsigned integer");
    if (!is_unsigned_type(it.type) && it.v.i < 0)
        return iw_error_set(IW_EFORMAT, "%s: key '%s' is negative (%" PRId64 ")", s->name, key, it.v.i);
    *out = it.v.u;
    return 0;
}

int iw_kvs_get_float(const iw_kvs *s, const char *key, double *out)
{
    long i = iw_kvs_find(s, key);
    return i < 0 ? IW_ENOTFOUND : iw_kvs_float(s, (size_t)i, out);
}

int iw_kvs_get_bool(const iw_kvs *s, const char *key, bool *out)
{
    iw_kv_item it;
    long i = iw_kvs_find(s, key);
    if (i < 0 || !item(s, (size_t)i, &it))
        return IW_ENOTFOUND;
    if (it.type == IW_GGUF_BOOL) {
        *out = it.v.u != 0;
        return 0;
    }
    if (is_int_type(it.type) && (it.v.u == 0 || it.v.u == 1)) {
        *out = it.v.u == 1;
        return 0;
    }
    return type_error(s, key, it.type, "BOOL");
}

int iw_kvs_get_str(const iw_kvs *s, const char *key, const char **out, size_t *len)
{
    long i = iw_kvs_find(s, key);
    return i < 0 ? IW_ENOTFOUND : iw_kvs_str(s, (size_t)i, out, len);
}

int iw_kvs_get_array(const iw_kvs *s, const char *key, iw_gguf_type *elem_type, uint64_t *count)
{
    long i = iw_kvs_find(s, key);
    return i < 0 ? IW_ENOTFOUND : iw_kvs_array(s, (size_t)i, elem_type, count);
}

/* The array item named key and the bounds check of element j. */
static int array_elem(const iw_kvs *s, const char *key, uint64_t j, size_t *idx, iw_kv_item *it)
{
    long k = iw_kvs_find(s, key);
    if (k < 0 || !item(s, (size_t)k, it))
        return IW_ENOTFOUND;
    if (it->type != IW_GGUF_ARRAY)
        return type_error(s, key, it->type, "ARRAY");
    if (j >= it->count)
        return iw_error_set(IW_EINVAL, "%s: key '%s': index %" PRIu64 " out of range (%" PRIu64 " elements)",
                            s->name, key, j, it->count);
    *idx = (size_t)k;
    return 0;
}

int iw_kvs_array_int(const iw_kvs *s, const char *key, uint64_t j, int64_t *out)
{
    iw_kv_item it;
    size_t k = 0;
    iw_kv_scalar v;
    int rc = array_elem(s, key, j, &k, &it);
    if (rc)
        return rc;
    if (!is_int_type(it.elem))
        return iw_error_set(IW_EFORMAT, "%s: key '%s' is an array of %s, expected integers", s->name, key,
                            iw_gguf_type_name(it.elem));
    if ((rc = s->ops->elem(s, k, j, &v, NULL, NULL)) < 0)
        return rc;
    return scalar_int(s, key, it.elem, v, out);
}

int iw_kvs_array_float(const iw_kvs *s, const char *key, uint64_t j, double *out)
{
    iw_kv_item it;
    size_t k = 0;
    iw_kv_scalar v;
    int rc = array_elem(s, key, j, &k, &it);
    if (rc)
        return rc;
    if (!is_number_type(it.elem))
        return iw_error_set(IW_EFORMAT, "%s: key '%s' is an array of %s, expected numbers", s->name, key,
                            iw_gguf_type_name(it.elem));
    if ((rc = s->ops->elem(s, k, j, &v, NULL, NULL)) < 0)
        return rc;
    return scalar_float(s, key, it.elem, v, out);
}

int iw_kvs_array_str(const iw_kvs *s, const char *key, uint64_t j, const char **out, size_t *len)
{
    iw_kv_item it;
    size_t k = 0;
    int rc = array_elem(s, key, j, &k, &it);
    if (rc)
        return rc;
    if (it.elem != IW_GGUF_STRING)
        return iw_error_set(IW_EFORMAT, "%s: key '%s' is an array of %s, expected strings", s->name, key,
                            iw_gguf_type_name(it.elem));
    return s->ops->elem(s, k, j, NULL, out, len);
}

bool iw_kvs_is_projector(const iw_kvs *s)
{
    const char *arch = NULL;
    if (s->projector)
        return true;
    if (iw_kvs_get_str(s, "general.architecture", &arch, NULL) == 0 && strcmp(arch, "clip") == 0)
        return true;
    for (size_t i = 0; i < iw_kvs_count(s); i++)
        if (strncmp(iw_kvs_key(s, i), "clip.vision.", 12) == 0)
            return true;
    return false;
}

size_t iw_kvs_tensor_count(const iw_kvs *s) { return s->ops->n_tensors(s); }

const iw_gguf_tensor *iw_kvs_tensor_at(const iw_kvs *s, size_t i)
{
    return i < s->ops->n_tensors(s) ? s->ops->tensor(s, i) : NULL;
}
