/* gguf_types.c - GGML tensor type table, GGUF value type names and the
 * general.file_type labels.
 *
 * Tensor types: ggml.h enum ggml_type, block sizes and bytes per block from
 * ggml.c type_traits[] / ggml-common.h (reference: formats-and-estimation.md
 * 1.3).  Removed ids (4, 5, 31-33, 36-38) have no entry: ggml gives them
 * blck_size 0, so a file using them cannot be loaded. */
#include "iwdl/gguf.h"

#include <stddef.h>

static const iw_ggml_type_info ggml_types[IW_GGML_TYPE_COUNT] = {
    [0]  = { "F32",     1,   4,   32 },
    [1]  = { "F16",     1,   2,   16 },
    [2]  = { "Q4_0",    32,  18,  4 },
    [3]  = { "Q4_1",    32,  20,  4 },
    [6]  = { "Q5_0",    32,  22,  5 },
    [7]  = { "Q5_1",    32,  24,  5 },
    [8]  = { "Q8_0",    32,  34,  8 },
    [9]  = { "Q8_1",    32,  36,  8 },
    [10] = { "Q2_K",    256, 84,  2 },
    [11] = { "Q3_K",    256, 110, 3 },
    [12] = { "Q4_K",    256, 144, 4 },
    [13] = { "Q5_K",    256, 176, 5 },
    [14] = { "Q6_K",    256, 210, 6 },
    [15] = { "Q8_K",    256, 292, 8 },
    [16] = { "IQ2_XXS", 256, 66,  2 },
    [17] = { "IQ2_XS",  256, 74,  2 },
    [18] = { "IQ3_XXS", 256, 98,  3 },
    [19] = { "IQ1_S",   256, 50,  1 },
    [20] = { "IQ4_NL",  32,  18,  4 },
    [21] = { "IQ3_S",   256, 110, 3 },
    [22] = { "IQ2_S",   256, 82,  2 },
    [23] = { "IQ4_XS",  256, 136, 4 },
    [24] = { "I8",      1,   1,   8 },
    [25] = { "I16",     1,   2,   16 },
    [26] = { "I32",     1,   4,   32 },
    [27] = { "I64",     1,   8,   64 },
    [28] = { "F64",     1,   8,   64 },
    [29] = { "IQ1_M",   256, 56,  1 },
    [30] = { "BF16",    1,   2,   16 },
    [34] = { "TQ1_0",   256, 54,  1.58 },
    [35] = { "TQ2_0",   256, 66,  2 },
    [39] = { "MXFP4",   32,  17,  4 },
    [40] = { "NVFP4",   64,  36,  4 },
    [41] = { "Q1_0",    128, 18,  1 },
    [42] = { "Q2_0",    64,  18,  2 },
};

const iw_ggml_type_info *iw_ggml_type_info_get(int32_t id)
{
    if (id < 0 || id >= IW_GGML_TYPE_COUNT || ggml_types[id].name == NULL)
        return NULL;
    return &ggml_types[id];
}

const char *iw_ggml_type_name(int32_t id)
{
    const iw_ggml_type_info *t = iw_ggml_type_info_get(id);
    return t ? t->name : NULL;
}

static const char *const value_type_names[IW_GGUF_TYPE_COUNT] = {
    "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
    "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};

const char *iw_gguf_type_name(int type)
{
    if (type < 0 || type >= IW_GGUF_TYPE_COUNT)
        return "?";
    return value_type_names[type];
}

/* LlamaFileType (gguf-py constants.py, "must match llama.h"), with the ggml
 * type that holds most of the weights in such a file. -1: no single one. */
static const struct { uint32_t id; const char *name; int32_t main; } file_types[] = {
    { 0, "F32", 0 },        { 1, "F16", 1 },        { 2, "Q4_0", 2 },
    { 3, "Q4_1", 3 },       { 7, "Q8_0", 8 },       { 8, "Q5_0", 6 },
    { 9, "Q5_1", 7 },       { 10, "Q2_K", 10 },     { 11, "Q3_K_S", 11 },
    { 12, "Q3_K_M", 11 },   { 13, "Q3_K_L", 11 },   { 14, "Q4_K_S", 12 },
    { 15, "Q4_K_M", 12 },   { 16, "Q5_K_S", 13 },   { 17, "Q5_K_M", 13 },
    { 18, "Q6_K", 14 },     { 19, "IQ2_XXS", 16 },  { 20, "IQ2_XS", 17 },
    { 21, "Q2_K_S", 10 },   { 22, "IQ3_XS", 21 },   { 23, "IQ3_XXS", 18 },
    { 24, "IQ1_S", 19 },    { 25, "IQ4_NL", 20 },   { 26, "IQ3_S", 21 },
    { 27, "IQ3_M", 21 },    { 28, "IQ2_S", 22 },    { 29, "IQ2_M", 22 },
    { 30, "IQ4_XS", 23 },   { 31, "IQ1_M", 29 },    { 32, "BF16", 30 },
    { 36, "TQ1_0", 34 },    { 37, "TQ2_0", 35 },    { 38, "MXFP4_MOE", 39 },
    { 39, "NVFP4", 40 },    { 40, "Q1_0", 41 },     { 1024, "GUESSED", -1 },
};

const char *iw_gguf_file_type_name(uint32_t ft)
{
    for (size_t i = 0; i < sizeof file_types / sizeof file_types[0]; i++)
        if (file_types[i].id == ft)
            return file_types[i].name;
    return NULL;
}

int32_t iw_gguf_file_type_main_type(uint32_t ft)
{
    for (size_t i = 0; i < sizeof file_types / sizeof file_types[0]; i++)
        if (file_types[i].id == ft)
            return file_types[i].main;
    return -1;
}
