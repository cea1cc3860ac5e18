/* llamacpp.c - llama.cpp's KV cache, compute buffer and output buffer,
 * derived from llama.cpp's own code (see llamacpp.h and docs/estimate.md).
 *
 * The compute buffer is not a formula: llama.cpp reserves it by building
 * the worst-case graph and running ggml's graph allocator over it, so the
 * size depends on which tensors are alive together and on where the
 * allocator placed them.  This file builds the same graph in a small model
 * of ggml (tensor shapes and strides, views, the depth-first order in which
 * ggml_build_forward_expand adds nodes) and replays the allocator:
 *   - leafs first, then every graph input, then the nodes in order;
 *   - a node whose op may run in place (ggml_op_can_inplace) takes over the
 *     memory of a parent with the same layout that has no other use;
 *   - a tensor is freed when its last consumer has run (views keep their
 *     base alive); graph outputs are never freed;
 *   - free blocks are kept sorted and merged; an allocation takes the best
 *     fitting block other than the last, else the last (which grows the
 *     buffer); sizes are aligned to 32 bytes (the CPU buffer alignment).
 * The builders follow src/llama-graph.cpp (build_inp_embd, build_norm,
 * build_qkv, build_attn / build_attn_mha, build_ffn, build_moe_ffn) and
 * src/models/<arch>.cpp of the llama.cpp release node-llama-cpp 3.22.1
 * ships (v0.5.0); bench/llamacpp_oracle.sh checks them against it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "llamacpp.h"

/* ------------------------------------------------------------ ggml model */

enum {
    OP_NONE = 0, OP_GET_ROWS, OP_SET_ROWS, OP_RMS_NORM, OP_MUL, OP_ADD, OP_ADD_ID, OP_SCALE, OP_UNARY,
    OP_MUL_MAT, OP_MUL_MAT_ID, OP_VIEW, OP_RESHAPE, OP_PERMUTE, OP_TRANSPOSE, OP_CONT, OP_ROPE,
    OP_FLASH_ATTN_EXT, OP_SOFT_MAX, OP_GLU, OP_CONCAT, OP_ARGSORT, OP_SUM_ROWS, OP_DIV, OP_CLAMP,
    OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    "NONE", "GET_ROWS", "SET_ROWS", "RMS_NORM", "MUL", "ADD", "ADD_ID", "SCALE", "UNARY",
    "MUL_MAT", "MUL_MAT_ID", "VIEW", "RESHAPE", "PERMUTE", "TRANSPOSE", "CONT", "ROPE",
    "FLASH_ATTN_EXT", "SOFT_MAX", "GLU", "CONCAT", "ARGSORT", "SUM_ROWS", "DIV", "CLAMP",
};

/* ggml_op_can_inplace (ggml-alloc.c) for the ops modelled here */
static bool can_inplace(int op)
{
    switch (op) {
    case OP_ADD: case OP_ADD_ID: case OP_MUL: case OP_DIV: case OP_SCALE: case OP_UNARY:
    case OP_ROPE: case OP_RMS_NORM: case OP_CLAMP: case OP_SOFT_MAX:
        return true;
    default:
        return false;
    }
}

/* element types: ggml type id -> block size and bytes per block */
enum { T_F32 = 0, T_F16 = 1, T_Q4_0 = 2, T_Q8_0 = 8, T_I32 = 26, T_I64 = 27, T_BF16 = 30 };

static int64_t blck_of(int t) { return t == T_Q4_0 || t == T_Q8_0 ? 32 : 1; }
static int64_t tsize_of(int t)
{
    switch (t) {
    case T_F32: case T_I32: return 4;
    case T_F16: case T_BF16: return 2;
    case T_I64: return 8;
    case T_Q4_0: return 18;
    case T_Q8_0: return 34;
    }
    return 4;
}
static const char *type_name(int t)
{
    switch (t) {
    case T_F32: return "f32";
    case T_F16: return "f16";
    case T_BF16: return "bf16";
    case T_I32: return "i32";
    case T_I64: return "i64";
    case T_Q4_0: return "q4_0";
    case T_Q8_0: return "q8_0";
    }
    return "?";
}
static int64_t row_size(int t, int64_t n) { return n / blck_of(t) * tsize_of(t); }

#define MAX_SRC 5
#define F_INPUT  1
#define F_OUTPUT 2

typedef struct gt {
    int64_t ne[4];
    int64_t nb[4];
    int64_t view_offs;
    int     src[MAX_SRC];
    int     view_src;       /* base tensor of a view, -1 */
    int8_t  op, type;
    uint8_t flags;
    bool    ext;            /* lives in another buffer (weights, KV cache) */
    bool    visited;
} gt;

typedef struct graph {
    gt  *t;
    int  n, cap;
    int *nodes, n_nodes, cap_nodes;
    int *leafs, n_leafs, cap_leafs;
    bool oom, too_big;
} graph;

/* caps: a graph of more tensors, or a tensor of more bytes, is refused
 * (hostile shapes must not exhaust memory or overflow int64) */
#define MAX_TENSORS (1 << 21)
#define MAX_TENSOR_BYTES 4.0e18

static int g_new(graph *g, int type, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3)
{
    if (g->oom || g->too_big)
        return 0;
    if (g->n >= MAX_TENSORS ||
        (double)ne0 * (double)ne1 * (double)ne2 * (double)ne3 * (double)tsize_of(type) > MAX_TENSOR_BYTES) {
        g->too_big = true;
        return 0;
    }
    if (g->n == g->cap) {
        int nc = g->cap ? 2 * g->cap : 1024;
        gt *nt = realloc(g->t, (size_t)nc * sizeof *nt);
        if (!nt) {
            g->oom = true;
            return 0;
        }
        g->t = nt;
        g->cap = nc;
    }
    int id = g->n++;
    gt *t = &g->t[id];
    memset(t, 0, sizeof *t);
    t->ne[0] = ne0; t->ne[1] = ne1; t->ne[2] = ne2; t->ne[3] = ne3;
    t->type = (int8_t)type;
    t->nb[0] = tsize_of(type);
    t->nb[1] = row_size(type, ne0);
    t->nb[2] = t->nb[1] * ne1;
    t->nb[3] = t->nb[2] * ne2;
    t->view_src = -1;
    for (int i = 0; i < MAX_SRC; i++)
        t->src[i] = -1;
    return id;
}

static gt *T(graph *g, int id) { return &g->t[id]; }

/* ggml_nbytes */
static int64_t nbytes(const gt *t)
{
    int64_t b = blck_of(t->type);
    int64_t n;
    if (b == 1) {
        n = tsize_of(t->type);
        for (int i = 0; i < 4; i++)
            n += (t->ne[i] - 1) * t->nb[i];
    } else {
        n = t->ne[0] * t->nb[0] / b;
        for (int i = 1; i < 4; i++)
            n += (t->ne[i] - 1) * t->nb[i];
    }
    return n;
}

static int leaf(graph *g, int type, int64_t a, int64_t b, int64_t c, int64_t d, bool ext)
{
    int id = g_new(g, type, a, b, c, d);
    T(g, id)->ext = ext;
    return id;
}

static int input(graph *g, int type, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int id = g_new(g, type, a, b, c, d);
    T(g, id)->flags |= F_INPUT;
    return id;
}

/* a weight (its bytes live in the model buffer; only the shape matters) */
static int weight(graph *g, int64_t a, int64_t b, int64_t c)
{
    return leaf(g, T_F16, a, b, c, 1, true);
}

static int op1(graph *g, int op, int type, const int64_t ne[4], int s0, int s1, int s2, int s3, int s4)
{
    int id = g_new(g, type, ne[0], ne[1], ne[2], ne[3]);
    gt *t = T(g, id);
    t->op = (int8_t)op;
    t->src[0] = s0; t->src[1] = s1; t->src[2] = s2; t->src[3] = s3; t->src[4] = s4;
    return id;
}

/* a new tensor with the shape of a (ggml_dup_tensor) */
static int same(graph *g, int op, int a, int s1, int s2)
{
    int64_t ne[4];
    memcpy(ne, T(g, a)->ne, sizeof ne);
    return op1(g, op, T(g, a)->type, ne, a, s1, s2, -1, -1);
}

/* a view of a (ggml_view_impl): shape, strides and offset given */
static int view(graph *g, int op, int a, const int64_t ne[4], const int64_t nb[4], int64_t offs)
{
    int id = g_new(g, T(g, a)->type, ne[0], ne[1], ne[2], ne[3]);
    gt *t = T(g, id);
    gt *s = T(g, a);
    t->op = (int8_t)op;
    memcpy(t->nb, nb, sizeof t->nb);
    t->src[0] = a;
    if (s->view_src >= 0) {
        t->view_src = s->view_src;
        t->view_offs = s->view_offs + offs;
    } else {
        t->view_src = a;
        t->view_offs = offs;
    }
    return id;
}

static int view_nd(graph *g, int a, int64_t n0, int64_t n1, int64_t n2, int64_t n3,
                   int64_t nb1, int64_t nb2, int64_t nb3, int64_t offs)
{
    int64_t ne[4] = {n0, n1, n2, n3};
    int64_t nb[4] = {T(g, a)->nb[0], nb1, nb2, nb3};
    /* ggml_view_2d/3d: the unused higher strides are nb[d-1] x ne[d-1] */
    if (n3 == 1 && nb3 == 0)
        nb[3] = nb[2] * n2;
    if (n2 == 1 && nb2 == 0) {
        nb[2] = nb[1] * n1;
        nb[3] = nb[2];
    }
    return view(g, OP_VIEW, a, ne, nb, offs);
}

static int reshape(graph *g, int a, int64_t n0, int64_t n1, int64_t n2, int64_t n3)
{
    int tp = T(g, a)->type;
    int64_t ne[4] = {n0, n1, n2, n3};
    int64_t nb[4] = {tsize_of(tp), row_size(tp, n0), 0, 0};
    nb[2] = nb[1] * n1;
    nb[3] = nb[2] * n2;
    return view(g, OP_RESHAPE, a, ne, nb, 0);
}

static int permute(graph *g, int a, int x0, int x1, int x2, int x3)
{
    const gt *s = T(g, a);
    int ax[4] = {x0, x1, x2, x3};
    int64_t ne[4], nb[4];
    for (int i = 0; i < 4; i++) {
        ne[ax[i]] = s->ne[i];
        nb[ax[i]] = s->nb[i];
    }
    return view(g, OP_PERMUTE, a, ne, nb, 0);
}

static int transpose(graph *g, int a)
{
    const gt *s = T(g, a);
    int64_t ne[4] = {s->ne[1], s->ne[0], s->ne[2], s->ne[3]};
    int64_t nb[4] = {s->nb[1], s->nb[0], s->nb[2], s->nb[3]};
    return view(g, OP_TRANSPOSE, a, ne, nb, 0);
}

static int cont(graph *g, int a, int64_t n0, int64_t n1, int64_t n2, int64_t n3)
{
    int64_t ne[4] = {n0, n1, n2, n3};
    return op1(g, OP_CONT, T(g, a)->type, ne, a, -1, -1, -1, -1);
}

static int mul_mat(graph *g, int a, int b)
{
    const gt *x = T(g, a), *y = T(g, b);
    int64_t ne[4] = {x->ne[1], y->ne[1], y->ne[2], y->ne[3]};
    return op1(g, OP_MUL_MAT, T_F32, ne, a, b, -1, -1, -1);
}

static int get_rows(graph *g, int a, int b)
{
    const gt *x = T(g, a), *y = T(g, b);
    int64_t ne[4] = {x->ne[0], y->ne[0], y->ne[1], y->ne[2]};
    return op1(g, OP_GET_ROWS, x->type == T_I32 ? T_I32 : T_F32, ne, a, b, -1, -1, -1);
}

/* ggml_set_rows: a view of the destination, sources (b, c, a) */
static int set_rows(graph *g, int a, int b, int c)
{
    const gt *d = T(g, a);
    int64_t ne[4], nb[4];
    memcpy(ne, d->ne, sizeof ne);
    memcpy(nb, d->nb, sizeof nb);
    int id = view(g, OP_SET_ROWS, a, ne, nb, 0);
    gt *t = T(g, id);
    t->src[0] = b;
    t->src[1] = c;
    t->src[2] = a;
    return id;
}

static int rms_norm(graph *g, int a) { return same(g, OP_RMS_NORM, a, -1, -1); }
static int mul(graph *g, int a, int b) { return same(g, OP_MUL, a, b, -1); }
static int add(graph *g, int a, int b) { return same(g, OP_ADD, a, b, -1); }
static int scale(graph *g, int a) { return same(g, OP_SCALE, a, -1, -1); }
static int unary(graph *g, int a) { return same(g, OP_UNARY, a, -1, -1); }
static int rope(graph *g, int a, int pos, int freq) { return same(g, OP_ROPE, a, pos, freq); }

/* ggml_glu_split (swiglu, geglu, swiglu_oai): shape of a; ggml_swiglu (one
 * input): half of a's first dimension */
static int glu(graph *g, int a, int b)
{
    const gt *x = T(g, a);
    int64_t ne[4] = {b >= 0 ? x->ne[0] : x->ne[0] / 2, x->ne[1], x->ne[2], x->ne[3]};
    return op1(g, OP_GLU, x->type, ne, a, b, -1, -1, -1);
}

static int concat0(graph *g, int a, int b)
{
    const gt *x = T(g, a), *y = T(g, b);
    int64_t ne[4] = {x->ne[0] + y->ne[0], x->ne[1], x->ne[2], x->ne[3]};
    return op1(g, OP_CONCAT, x->type, ne, a, b, -1, -1, -1);
}

/* ggml_argsort_top_k: argsort (I32, shape of a), then a view of the first k */
static int argsort_top_k(graph *g, int a, int64_t k)
{
    int s = op1(g, OP_ARGSORT, T_I32, T(g, a)->ne, a, -1, -1, -1, -1);
    const gt *x = T(g, s);
    return view_nd(g, s, k, x->ne[1], x->ne[2], x->ne[3], x->nb[1], x->nb[2], x->nb[3], 0);
}

/* ggml_build_forward_expand: depth-first over src[0..], leafs (op NONE)
 * and nodes appended in the order they are finished */
static void push(graph *g, int **arr, int *n, int *cap, int id)
{
    if (*n == *cap) {
        int nc = *cap ? 2 * *cap : 1024;
        int *na = realloc(*arr, (size_t)nc * sizeof *na);
        if (!na) {
            g->oom = true;
            return;
        }
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = id;
}

static void visit(graph *g, int id)
{
    if (g->oom || g->t[id].visited)
        return;
    g->t[id].visited = true;
    for (int i = 0; i < MAX_SRC; i++)
        if (g->t[id].src[i] >= 0)
            visit(g, g->t[id].src[i]);
    if (g->t[id].op == OP_NONE)
        push(g, &g->leafs, &g->n_leafs, &g->cap_leafs, id);
    else
        push(g, &g->nodes, &g->n_nodes, &g->cap_nodes, id);
}

static void expand(graph *g, int id) { visit(g, id); }

/* ------------------------------------------------------------ allocator */

#define ALIGN 32
#define MAX_FREE 512

typedef struct fblock { int64_t off, size; } fblock;

typedef struct dyn {
    fblock b[MAX_FREE];
    int    n;
    int64_t max;
    bool   overflow;
} dyn;

static int64_t aligned(int64_t s) { return (s + ALIGN - 1) / ALIGN * ALIGN; }

static void dyn_init(dyn *d)
{
    d->n = 1;
    d->b[0].off = 0;
    d->b[0].size = INT64_MAX / 2;
    d->max = 0;
    d->overflow = false;
}

static void dyn_remove(dyn *d, int i)
{
    memmove(&d->b[i], &d->b[i + 1], (size_t)(d->n - i - 1) * sizeof d->b[0]);
    d->n--;
}

static int64_t dyn_alloc(dyn *d, int64_t size)
{
    size = aligned(size);
    int best = -1;
    int64_t best_size = INT64_MAX;
    for (int i = 0; i < d->n - 1; i++)        /* best fit among all but the last block */
        if (d->b[i].size >= size && d->b[i].size <= best_size) {
            best = i;
            best_size = d->b[i].size;
        }
    if (best < 0)
        best = d->n - 1;                      /* the last block, which can grow */
    int64_t addr = d->b[best].off;
    d->b[best].off += size;
    d->b[best].size -= size;
    if (d->b[best].size == 0)
        dyn_remove(d, best);
    if (addr + size > d->max)
        d->max = addr + size;
    return addr;
}

static void dyn_free(dyn *d, int64_t addr, int64_t size)
{
    size = aligned(size);
    for (int i = 0; i < d->n; i++) {
        fblock *b = &d->b[i];
        if (b->off + b->size == addr) {       /* at the end of a block */
            b->size += size;
            if (i < d->n - 1 && b->off + b->size == d->b[i + 1].off) {
                b->size += d->b[i + 1].size;
                dyn_remove(d, i + 1);
            }
            return;
        }
        if (addr + size == b->off) {          /* at the start of a block */
            b->off = addr;
            b->size += size;
            if (i > 0 && d->b[i - 1].off + d->b[i - 1].size == b->off) {
                d->b[i - 1].size += b->size;
                dyn_remove(d, i);
            }
            return;
        }
    }
    if (d->n == MAX_FREE) {
        d->overflow = true;
        return;
    }
    int pos = 0;
    while (pos < d->n && d->b[pos].off < addr)
        pos++;
    memmove(&d->b[pos + 1], &d->b[pos], (size_t)(d->n - pos) * sizeof d->b[0]);
    d->b[pos].off = addr;
    d->b[pos].size = size;
    d->n++;
}

typedef struct hnode { int n_children, n_views; int64_t addr; bool allocated, done; } hnode;

static bool same_layout(const gt *a, const gt *b)
{
    if (a->type != b->type)
        return false;
    for (int i = 0; i < 4; i++)
        if (a->ne[i] != b->ne[i] || a->nb[i] != b->nb[i])
            return false;
    return true;
}

static void free_extra(dyn *d, const gt *node, const gt *parent, int64_t addr)
{
    int64_t ps = aligned(nbytes(parent)), ns = aligned(nbytes(node));
    if (ps > ns)
        dyn_free(d, addr + ns, ps - ns);
}

static void allocate(graph *g, hnode *h, dyn *d, int id)
{
    gt *t = &g->t[id];
    hnode *hn = &h[id];
    if (t->ext || hn->allocated || hn->done || t->view_src >= 0)
        return;
    hn->allocated = true;
    hn->done = true;
    if (can_inplace(t->op)) {
        for (int i = 0; i < MAX_SRC; i++) {
            int p = t->src[i];
            if (p < 0)
                continue;
            gt *pt = &g->t[p];
            hnode *ph = &h[p];
            if (!ph->allocated)
                continue;               /* not ours: external, or a view (views are never allocated) */
            if ((pt->flags & F_OUTPUT) || (pt->view_src >= 0 && (g->t[pt->view_src].flags & F_OUTPUT)))
                continue;
            if (!same_layout(t, pt))
                continue;
            if (ph->n_children == 1 && ph->n_views == 0) {
                if (pt->view_src >= 0) {
                    hnode *vh = &h[pt->view_src];
                    if (vh->n_views == 1 && vh->n_children == 0 && pt->view_offs == 0 && vh->allocated) {
                        hn->addr = vh->addr;
                        ph->allocated = false;
                        vh->allocated = false;
                        free_extra(d, t, &g->t[pt->view_src], hn->addr);
                        return;
                    }
                } else {
                    hn->addr = ph->addr;
                    ph->allocated = false;
                    free_extra(d, t, pt, hn->addr);
                    return;
                }
            }
        }
    }
    hn->addr = dyn_alloc(d, nbytes(t));
}

static void free_node(graph *g, hnode *h, dyn *d, int id)
{
    if (g->t[id].flags & F_OUTPUT)
        return;
    dyn_free(d, h[id].addr, nbytes(&g->t[id]));
    h[id].allocated = false;
}

/* the peak of ggml_gallocr over the graph (0 and IW_ENOMEM on failure) */
static int64_t replay(graph *g)
{
    hnode *h = calloc((size_t)(g->n ? g->n : 1), sizeof *h);
    dyn *d = malloc(sizeof *d);
    if (!h || !d) {
        free(h);
        free(d);
        g->oom = true;
        return 0;
    }
    dyn_init(d);
    for (int i = 0; i < g->n_leafs; i++)
        allocate(g, h, d, g->leafs[i]);
    for (int i = 0; i < g->n_nodes; i++) {
        gt *t = &g->t[g->nodes[i]];
        if (t->view_src >= 0)
            h[t->view_src].n_views++;
        if (t->flags & F_INPUT)
            allocate(g, h, d, g->nodes[i]);
        for (int j = 0; j < MAX_SRC; j++) {
            if (t->src[j] < 0)
                continue;
            h[t->src[j]].n_children++;
            if (g->t[t->src[j]].flags & F_INPUT)
                allocate(g, h, d, t->src[j]);
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        int id = g->nodes[i];
        gt *t = &g->t[id];
        for (int j = 0; j < MAX_SRC; j++)
            if (t->src[j] >= 0)
                allocate(g, h, d, t->src[j]);
        allocate(g, h, d, id);
        for (int j = 0; j < MAX_SRC; j++) {
            int p = t->src[j];
            if (p < 0)
                continue;
            hnode *ph = &h[p];
            ph->n_children--;
            if (ph->n_children == 0 && ph->n_views == 0) {
                gt *pt = &g->t[p];
                if (pt->view_src >= 0) {
                    hnode *vh = &h[pt->view_src];
                    vh->n_views--;
                    if (vh->n_views == 0 && vh->n_children == 0 && vh->allocated)
                        free_node(g, h, d, pt->view_src);
                } else if (ph->allocated) {
                    free_node(g, h, d, p);
                }
            }
        }
    }
    int64_t peak = d->overflow ? -1 : d->max;
    free(h);
    free(d);
    return peak;
}

static void graph_free(graph *g)
{
    free(g->t);
    free(g->nodes);
    free(g->leafs);
    memset(g, 0, sizeof *g);
}

/* ------------------------------------------------------------ the model */

typedef enum fam {
    FAM_LLAMA, FAM_QWEN2, FAM_QWEN3, FAM_GEMMA2, FAM_GEMMA3, FAM_PHI3, FAM_DEEPSEEK2, FAM_GPT_OSS,
    FAM_GENERIC
} fam;

static const struct { const char *name; fam f; const char *graph; } fams[] = {
    {"llama", FAM_LLAMA, "llama"}, {"mistral", FAM_LLAMA, "llama"}, {"mixtral", FAM_LLAMA, "llama"},
    {"qwen2", FAM_QWEN2, "qwen2"},
    {"qwen3", FAM_QWEN3, "qwen3"}, {"qwen3moe", FAM_QWEN3, "qwen3moe"}, {"qwen3_moe", FAM_QWEN3, "qwen3moe"},
    {"gemma2", FAM_GEMMA2, "gemma2"},
    {"gemma3", FAM_GEMMA3, "gemma3"}, {"gemma3_text", FAM_GEMMA3, "gemma3"},
    {"phi3", FAM_PHI3, "phi3"},
    {"deepseek2", FAM_DEEPSEEK2, "deepseek2"}, {"deepseek_v2", FAM_DEEPSEEK2, "deepseek2"},
    {"deepseek_v3", FAM_DEEPSEEK2, "deepseek2"},
    {"gpt-oss", FAM_GPT_OSS, "gpt-oss"}, {"gpt_oss", FAM_GPT_OSS, "gpt-oss"},
};

/* everything the graph and the cache need, from iw_arch */
typedef struct hp {
    fam     f;
    const char *graph;
    int64_t h, L, nh, hd_k, hd_v, ff, V;
    int64_t nkv;            /* the widest layer's KV heads */
    iw_kv_layer *layer;     /* per layer, by the library's KV rule (iw_arch_kv_layer) */
    bool    has_swa;
    int64_t n_swa;
    /* MoE */
    int64_t E, k, ff_exp, ff_shexp, dense_lead;
    /* MLA */
    bool    mla;
    int64_t kv_lora, q_lora, rope, nope, vhd;
} hp;

static int64_t kv_heads(const hp *p, int64_t il) { return p->layer[il].n_kv_heads; }

static bool is_swa(const hp *p, int64_t il)
{
    return p->has_swa && (p->layer[il].kind == IW_LAYER_SLIDING || p->layer[il].kind == IW_LAYER_CHUNKED);
}

static bool known(int64_t v) { return v > 0; }

static void hp_free(hp *p)
{
    free(p->layer);
    p->layer = NULL;
}

static int get_hp(const iw_arch *a, hp *p, iw_strlist *warn)
{
    int rc;
    memset(p, 0, sizeof *p);
    p->f = FAM_GENERIC;
    p->graph = "llama-like";
    for (size_t i = 0; a->model_type && i < sizeof fams / sizeof fams[0]; i++)
        if (!strcasecmp(a->model_type, fams[i].name)) {
            p->f = fams[i].f;
            p->graph = fams[i].graph;
        }
    p->h = a->hidden_size;
    p->L = a->num_layers;
    p->nh = a->num_attention_heads;
    p->V = a->vocab_size;
    if (!known(p->h) || !known(p->L) || !known(p->nh) || !known(p->V))
        return iw_error_set(IW_EINVAL, "estimate: llama.cpp compute buffer needs hidden_size, num_layers, "
                            "num_attention_heads and vocab_size");
    if (p->L > 100000)
        return iw_error_set(IW_ELIMIT, "estimate: %lld layers", (long long)p->L);
    p->hd_k = known(a->attention.key_length) ? a->attention.key_length
            : known(a->head_dim) ? a->head_dim : p->h / p->nh;
    p->hd_v = known(a->attention.value_length) ? a->attention.value_length : p->hd_k;
    p->ff = known(a->intermediate_size) ? a->intermediate_size : 4 * p->h;
    if (!(p->layer = calloc((size_t)p->L, sizeof *p->layer)))
        return iw_error_set(IW_ENOMEM, "estimate: out of memory");
    bool sliding = false, chunked = false;
    for (int64_t il = 0; il < p->L; il++) {
        if ((rc = iw_arch_kv_layer(a, il, &p->layer[il])) < 0)
            return iw_error_set(rc, "estimate: %s", iw_error_last());
        if (p->layer[il].n_kv_heads > p->nkv)
            p->nkv = p->layer[il].n_kv_heads;
        sliding |= p->layer[il].kind == IW_LAYER_SLIDING;
        chunked |= p->layer[il].kind == IW_LAYER_CHUNKED;
    }
    if (p->nkv == 0)
        p->nkv = 1;
    /* sliding-window layers get their own cache (llama.cpp disables phi3's SWA);
     * chunked layers (llama4) are sized the same way with the chunk as window */
    p->n_swa = sliding ? a->attention.sliding_window : chunked ? a->attention.chunk_size : 0;
    p->has_swa = known(p->n_swa) && p->f != FAM_PHI3;
    p->E = known(a->moe.num_experts) ? a->moe.num_experts : 0;
    p->k = known(a->moe.experts_per_token) ? a->moe.experts_per_token : 0;
    /* experts use expert_feed_forward_length, else feed_forward_length
     * (Mixtral as llama: n_ff; qwen3moe: n_ff / n_expert_used) */
    p->ff_exp = known(a->moe.expert_intermediate_size) ? a->moe.expert_intermediate_size
              : (p->f == FAM_QWEN3 && p->k > 0) ? p->ff / p->k : p->ff;
    p->ff_shexp = known(a->moe.shared_expert_intermediate_size) ? a->moe.shared_expert_intermediate_size
                : known(a->moe.shared_experts) ? a->moe.shared_experts * p->ff_exp : 0;
    p->dense_lead = known(a->moe.num_dense_layers) ? a->moe.num_dense_layers : 0;
    if (p->E > 0 && p->k <= 0)
        return iw_error_set(IW_EINVAL, "estimate: MoE model without experts_per_token");
    p->mla = iw_arch_is_mla(a);
    if (p->mla) {
        p->kv_lora = a->attention.kv_lora_rank;
        p->q_lora = known(a->attention.q_lora_rank) ? a->attention.q_lora_rank : 0;
        p->rope = a->attention.qk_rope_head_dim;
        p->nope = a->attention.qk_nope_head_dim;
        p->vhd = known(a->attention.value_length) ? a->attention.value_length : 0;
        if (!known(p->rope) || !known(p->nope) || !known(p->vhd))
            return iw_error_set(IW_EINVAL, "estimate: MLA needs qk_rope_head_dim, qk_nope_head_dim and the "
                                "value head width");
        if (p->f != FAM_DEEPSEEK2)
            p->f = FAM_GENERIC;
    }
    if (p->f == FAM_GENERIC && warn)
        iw_strlist_pushf(warn, "llama.cpp compute buffer: the graph of '%s' is not modelled; a llama-like "
                         "graph stands in (heuristic)", a->model_type ? a->model_type : "?");
    return 0;
}

/* the per-context values every builder uses */
typedef struct cx {
    graph  *g;
    const hp *p;
    int64_t nT, ns, no;          /* tokens, streams (sequences, 1 when unified), outputs */
    int64_t n_kv, n_kv_swa;      /* cells per stream of the full and the SWA cache */
    int64_t kv_size, kv_size_swa;
    bool    fa, unified;
    int     tk, tv;
    /* inputs */
    int     pos, out_ids;
    int     k_idxs, v_idxs, mask, k_rot, v_rot;
    int     k_idxs_s, v_idxs_s, mask_s, k_rot_s, v_rot_s;
    int    *cache_k, *cache_v;   /* per layer, -1 none */
} cx;

static int norm_w(cx *c, int x, int64_t n)
{
    return mul(c->g, rms_norm(c->g, x), weight(c->g, n, 1, 1));
}

static int hadamard(cx *c, int x, int rot)
{
    graph *g = c->g;
    const gt *s = T(g, x);
    int64_t n = T(g, rot)->ne[0];
    int64_t ne[4] = {s->ne[0], s->ne[1], s->ne[2], s->ne[3]};
    int64_t nel = ne[0] * ne[1] * ne[2] * ne[3];
    bool contig = s->nb[0] == tsize_of(s->type) && s->nb[1] == row_size(s->type, s->ne[0]) &&
                  s->nb[2] == s->nb[1] * s->ne[1] && s->nb[3] == s->nb[2] * s->ne[2];
    int r = contig ? reshape(g, x, n, nel / n, 1, 1) : cont(g, x, n, nel / n, 1, 1);
    r = mul_mat(g, rot, r);
    return reshape(g, r, ne[0], ne[1], ne[2], ne[3]);
}

/* build_attn_mha */
static int attn_mha(cx *c, int q, int k, int v, int mask, int sinks, int v_mla)
{
    graph *g = c->g;
    int64_t ns = T(g, k)->ne[3];
    bool v_trans = T(g, v)->nb[1] > T(g, v)->nb[2];     /* decided before the permutes */
    const gt *qt = T(g, q);
    q = view_nd(g, q, qt->ne[0], qt->ne[1], qt->ne[2] / ns, ns, qt->nb[1], qt->nb[2], qt->nb[3] / ns, 0);
    q = permute(g, q, 0, 2, 1, 3);
    k = permute(g, k, 0, 2, 1, 3);
    v = permute(g, v, 0, 2, 1, 3);
    int cur;
    if (c->fa) {
        if (v_trans)
            v = transpose(g, v);
        const gt *qq = T(g, q), *vv = T(g, v);
        int64_t ne[4] = {vv->ne[0], qq->ne[2], qq->ne[1], qq->ne[3]};
        cur = op1(g, OP_FLASH_ATTN_EXT, T_F32, ne, q, k, v, mask, sinks);
        if (v_mla >= 0) {
            cur = permute(g, cur, 0, 2, 1, 3);
            cur = mul_mat(g, v_mla, cur);
            cur = permute(g, cur, 0, 2, 1, 3);
            const gt *x = T(g, cur);
            cur = cont(g, cur, x->ne[0], x->ne[1], x->ne[2], x->ne[3]);
        }
        const gt *x = T(g, cur);
        cur = reshape(g, cur, x->ne[0] * x->ne[1], x->ne[2] * x->ne[3], 1, 1);
    } else {
        int kq = mul_mat(g, k, q);
        if (c->p->f == FAM_GEMMA2) {           /* attn_soft_cap */
            kq = scale(g, kq);
            kq = unary(g, kq);
            kq = scale(g, kq);
        }
        kq = same(g, OP_SOFT_MAX, kq, mask, sinks);
        if (!v_trans) {
            int tr = transpose(g, v);
            const gt *x = T(g, tr);
            v = cont(g, tr, x->ne[0], x->ne[1], x->ne[2], x->ne[3]);
        }
        int kqv = mul_mat(g, v, kq);
        if (v_mla >= 0)
            kqv = mul_mat(g, v_mla, kqv);
        cur = permute(g, kqv, 0, 2, 1, 3);
        const gt *x = T(g, cur);
        cur = cont(g, cur, x->ne[0] * x->ne[1], x->ne[2] * x->ne[3], 1, 1);
    }
    expand(g, cur);
    return cur;
}

/* the K view llama_kv_cache::get_k gives for layer il */
static int get_k(cx *c, int64_t il, int64_t hd, int64_t nkv, bool swa)
{
    int k = c->cache_k[il];
    int64_t kv_size = swa ? c->kv_size_swa : c->kv_size;
    int64_t n_kv = swa ? c->n_kv_swa : c->n_kv;
    int64_t row = T(c->g, k)->ne[0];
    return view_nd(c->g, k, hd, nkv, n_kv, c->ns, row_size(c->tk, hd), row_size(c->tk, row),
                   row_size(c->tk, row * kv_size), 0);
}

static int get_v(cx *c, int64_t il, int64_t hd, int64_t nkv, bool swa)
{
    int v = c->cache_v[il];
    int64_t kv_size = swa ? c->kv_size_swa : c->kv_size;
    int64_t n_kv = swa ? c->n_kv_swa : c->n_kv;
    int64_t row = T(c->g, v)->ne[0];
    if (c->fa)
        return view_nd(c->g, v, hd, nkv, n_kv, c->ns, row_size(c->tv, hd), row_size(c->tv, row),
                       row_size(c->tv, row * kv_size), 0);
    return view_nd(c->g, v, n_kv, nkv, hd, c->ns, row_size(c->tv, kv_size * hd), row_size(c->tv, kv_size),
                   row_size(c->tv, kv_size * row), 0);
}

static int cpy_k(cx *c, int64_t il, int kcur, int idxs)
{
    graph *g = c->g;
    const gt *x = T(g, kcur);
    int64_t gqa = x->ne[0] * x->ne[1];
    int kv = view_nd(g, kcur, gqa, x->ne[2], 1, 1, x->nb[2], 0, 0, 0);
    int k = c->cache_k[il];
    if (T(g, k)->ne[2] > 1)
        k = reshape(g, k, T(g, k)->ne[0], T(g, k)->ne[1] * T(g, k)->ne[2], 1, 1);
    return set_rows(g, k, kv, idxs);
}

static int cpy_v(cx *c, int64_t il, int vcur, int idxs)
{
    graph *g = c->g;
    const gt *x = T(g, vcur);
    int64_t gqa = x->ne[0] * x->ne[1], ntok = x->ne[2];
    int v = c->cache_v[il];
    if (c->fa) {
        int vv = view_nd(g, vcur, gqa, ntok, 1, 1, x->nb[2], 0, 0, 0);
        if (T(g, v)->ne[2] > 1)
            v = reshape(g, v, T(g, v)->ne[0], T(g, v)->ne[1] * T(g, v)->ne[2], 1, 1);
        return set_rows(g, v, vv, idxs);
    }
    int vv = row_size(x->type, gqa) == x->nb[2] ? reshape(g, vcur, gqa, ntok, 1, 1) : cont(g, vcur, gqa, ntok, 1, 1);
    const gt *vt = T(g, v);
    int64_t nel = vt->ne[0] * vt->ne[1] * vt->ne[2] * vt->ne[3];
    int vview = reshape(g, v, 1, nel, 1, 1);
    vv = reshape(g, vv, 1, gqa * ntok, 1, 1);
    return set_rows(g, vview, vv, idxs);
}

/* build_attn for the KV cache (with or without SWA layers) */
static int attn_kv(cx *c, int64_t il, int q, int k, int v, int sinks, int wo_in, int64_t wo_out, bool wo_b)
{
    graph *g = c->g;
    bool swa = is_swa(c->p, il);
    int krot = swa ? c->k_rot_s : c->k_rot, vrot = swa ? c->v_rot_s : c->v_rot;
    if (krot >= 0) {
        q = hadamard(c, q, krot);
        k = hadamard(c, k, krot);
    }
    if (vrot >= 0)
        v = hadamard(c, v, vrot);
    if (c->p->has_swa) {        /* the iswa builder expands q, k, v */
        expand(g, q);
        expand(g, k);
        expand(g, v);
        expand(g, cpy_k(c, il, k, swa ? c->k_idxs_s : c->k_idxs));
        expand(g, cpy_v(c, il, v, swa ? c->v_idxs_s : c->v_idxs));
    } else {                    /* q, v, then k (rope fusion into the cache) */
        expand(g, q);
        expand(g, v);
        expand(g, k);
        expand(g, cpy_k(c, il, k, c->k_idxs));
        expand(g, cpy_v(c, il, v, c->v_idxs));
    }
    int64_t nkv = kv_heads(c->p, il);
    int kk = get_k(c, il, T(g, k)->ne[0], nkv, swa);
    int vv = get_v(c, il, T(g, v)->ne[0], nkv, swa);
    int cur = attn_mha(c, q, kk, vv, swa ? c->mask_s : c->mask, sinks, -1);
    if (vrot >= 0)
        cur = hadamard(c, cur, vrot);
    cur = mul_mat(g, weight(g, wo_in, wo_out, 1), cur);
    if (wo_b)
        cur = add(g, cur, weight(g, wo_out, 1, 1));
    return cur;
}

/* build_ffn: gate and up in parallel, then the activation (split GLU), down */
static int ffn_par(cx *c, int x, int64_t ff)
{
    graph *g = c->g;
    int64_t h = c->p->h;
    int up = mul_mat(g, weight(g, h, ff, 1), x);
    int gate = mul_mat(g, weight(g, h, ff, 1), x);
    int cur = glu(g, gate, up);
    return mul_mat(g, weight(g, ff, h, 1), cur);
}

/* build_moe_ffn */
static int moe(cx *c, int x, int64_t il, bool norm_weights, bool softmax_weight, bool biases, bool probs_b,
               bool sigmoid, bool scale_w)
{
    graph *g = c->g;
    const hp *p = c->p;
    int64_t h = p->h, E = p->E, k = p->k, ff = p->ff_exp, nT = T(g, x)->ne[1];
    (void)il;
    int logits = mul_mat(g, weight(g, h, E, 1), x);
    if (biases)
        logits = add(g, logits, weight(g, E, 1, 1));
    int probs = softmax_weight ? logits : sigmoid ? unary(g, logits) : same(g, OP_SOFT_MAX, logits, -1, -1);
    int sel = probs;
    if (probs_b)
        sel = add(g, probs, weight(g, E, 1, 1));
    int experts_sel = argsort_top_k(g, sel, k);
    int pr = reshape(g, probs, 1, E, nT, 1);
    int w = get_rows(g, pr, experts_sel);
    if (softmax_weight) {
        w = reshape(g, w, k, nT, 1, 1);
        w = same(g, OP_SOFT_MAX, w, -1, -1);
        w = reshape(g, w, 1, k, nT, 1);
    }
    if (norm_weights) {
        w = reshape(g, w, k, nT, 1, 1);
        int64_t ne[4] = {1, nT, 1, 1};
        int sum = op1(g, OP_SUM_ROWS, T_F32, ne, w, -1, -1, -1, -1);
        sum = same(g, OP_CLAMP, sum, -1, -1);
        w = same(g, OP_DIV, w, sum, -1);
        w = reshape(g, w, 1, k, nT, 1);
    }
    if (scale_w)
        w = scale(g, w);
    expand(g, w);
    int cur = reshape(g, x, h, 1, nT, 1);
    int64_t ne_up[4] = {ff, k, nT, 1};
    int up = op1(g, OP_MUL_MAT_ID, T_F32, ne_up, weight(g, h, ff, E), cur, experts_sel, -1, -1);
    if (biases)
        up = op1(g, OP_ADD_ID, T_F32, ne_up, up, weight(g, ff, E, 1), experts_sel, -1, -1);
    int gate = op1(g, OP_MUL_MAT_ID, T_F32, ne_up, weight(g, h, ff, E), cur, experts_sel, -1, -1);
    if (biases)
        gate = op1(g, OP_ADD_ID, T_F32, ne_up, gate, weight(g, ff, E, 1), experts_sel, -1, -1);
    int act = glu(g, gate, up);
    int64_t ne_dn[4] = {h, k, nT, 1};
    int ex = op1(g, OP_MUL_MAT_ID, T_F32, ne_dn, weight(g, ff, h, E), act, experts_sel, -1, -1);
    if (biases)
        ex = op1(g, OP_ADD_ID, T_F32, ne_dn, ex, weight(g, h, E, 1), experts_sel, -1, -1);
    ex = mul(g, ex, w);
    expand(g, ex);
    const gt *e = T(g, ex);
    int views[256] = {-1};
    int64_t nk = k < 1 ? 1 : k < 256 ? k : 256;
    for (int64_t i = 0; i < nk; i++) {
        views[i] = view_nd(g, ex, h, nT, 1, 1, e->nb[2], 0, 0, i * e->nb[1]);
        expand(g, views[i]);
        e = T(g, ex);
    }
    int out = views[0];
    for (int64_t i = 1; i < nk; i++) {
        out = add(g, out, views[i]);
        expand(g, out);
    }
    if (nk == 1)
        out = cont(g, out, h, nT, 1, 1);
    return out;
}

/* the input embeddings (build_inp_embd) */
static int inp_embd(cx *c)
{
    graph *g = c->g;
    int tok = weight(g, c->p->h, c->p->V, 1);
    int tokens = input(g, T_I32, c->nT, 1, 1, 1);
    int embd = input(g, T_F32, c->p->h, c->nT, 1, 1);
    int cur = get_rows(g, tok, tokens);
    expand(g, cur);
    expand(g, embd);
    return cur;
}

static int mask_input(cx *c, int64_t n_kv)
{
    return input(c->g, c->fa ? T_F16 : T_F32, n_kv, c->nT / c->ns, 1, c->ns);
}

/* the inputs of the attention (build_attn_inp_kv / build_attn_inp_kv_iswa),
 * and the rotation matrices of a quantized cache */
static int rot_n(int64_t hd, bool for_k)
{
    int n = 64;
    if (!for_k)
        return n;
    do
        n *= 2;
    while (hd % n == 0);
    return n / 2;
}

static void attn_inputs(cx *c, bool k_only)
{
    graph *g = c->g;
    const hp *p = c->p;
    int64_t vrows = c->fa ? c->nT : c->nT * (p->hd_v * p->nkv);
    c->k_idxs = input(g, T_I64, c->nT, 1, 1, 1);
    c->v_idxs = k_only ? -1 : input(g, T_I64, vrows, 1, 1, 1);
    c->mask = mask_input(c, c->n_kv);
    c->k_rot = c->v_rot = c->k_rot_s = c->v_rot_s = -1;
    c->k_idxs_s = c->v_idxs_s = c->mask_s = -1;
    if (p->has_swa) {
        c->k_idxs_s = input(g, T_I64, c->nT, 1, 1, 1);
        c->v_idxs_s = input(g, T_I64, vrows, 1, 1, 1);
        c->mask_s = mask_input(c, c->n_kv_swa);
    }
    if (k_only)
        return;
    /* attn_rot_k / attn_rot_v: a quantized cache whose heads all have the same width, a multiple of 64 */
    bool rk = (c->tk == T_Q8_0 || c->tk == T_Q4_0) && p->hd_k % 64 == 0;
    bool rv = (c->tv == T_Q8_0 || c->tv == T_Q4_0) && p->hd_v % 64 == 0;
    if (rk)
        c->k_rot = input(g, T_F32, rot_n(p->hd_k, true), rot_n(p->hd_k, true), 1, 1);
    if (rv)
        c->v_rot = input(g, T_F32, 64, 64, 1, 1);
    if (p->has_swa) {
        if (rk)
            c->k_rot_s = input(g, T_F32, rot_n(p->hd_k, true), rot_n(p->hd_k, true), 1, 1);
        if (rv)
            c->v_rot_s = input(g, T_F32, 64, 64, 1, 1);
    }
}

/* the output head: norm, then the output matrix; both are graph outputs */
static void head(cx *c, int cur, bool softcap)
{
    graph *g = c->g;
    int norm = norm_w(c, cur, c->p->h);
    T(g, norm)->flags |= F_OUTPUT;
    int logits = mul_mat(g, weight(g, c->p->h, c->p->V, 1), norm);
    if (softcap) {
        logits = scale(g, logits);
        logits = unary(g, logits);
        logits = scale(g, logits);
    }
    T(g, logits)->flags |= F_OUTPUT;
    expand(g, logits);
}

/* llama, mistral, mixtral, qwen2, qwen3, qwen3moe, gemma2, gemma3, phi3 and
 * gpt-oss share this layer loop; the differences are switches */
static void build_dense_like(cx *c)
{
    graph *g = c->g;
    const hp *p = c->p;
    fam f = p->f;
    bool gemma = f == FAM_GEMMA2 || f == FAM_GEMMA3;
    bool gptoss = f == FAM_GPT_OSS;
    int64_t h = p->h, nh = p->nh, hd = p->hd_k, qdim = nh * hd;
    int inpL = inp_embd(c);
    if (gemma)
        inpL = scale(g, inpL);
    c->pos = input(g, T_I32, c->nT, 1, 1, 1);
    attn_inputs(c, false);
    c->out_ids = input(g, T_I32, c->no, 1, 1, 1);
    int freq = -1;
    for (int64_t il = 0; il < p->L; il++) {
        int64_t nkv = kv_heads(p, il), kvdim = nkv * hd;
        int inpSA = inpL;
        int cur = norm_w(c, inpL, h);
        int Q, K, V;
        if (f == FAM_PHI3) {
            int qkv = mul_mat(g, weight(g, h, qdim + 2 * kvdim, 1), cur);
            int64_t es = tsize_of(T(g, qkv)->type), nb1 = T(g, qkv)->nb[1];
            Q = view_nd(g, qkv, hd, nh, c->nT, 1, es * hd, nb1, 0, 0);
            K = view_nd(g, qkv, hd, nkv, c->nT, 1, es * hd, nb1, 0, es * qdim);
            V = view_nd(g, qkv, hd, nkv, c->nT, 1, es * hd, nb1, 0, es * (qdim + kvdim));
        } else {
            bool bias = f == FAM_QWEN2 || gptoss;
            Q = mul_mat(g, weight(g, h, qdim, 1), cur);
            if (bias)
                Q = add(g, Q, weight(g, qdim, 1, 1));
            K = mul_mat(g, weight(g, h, kvdim, 1), cur);
            if (bias)
                K = add(g, K, weight(g, kvdim, 1, 1));
            V = mul_mat(g, weight(g, h, kvdim, 1), cur);
            if (bias)
                V = add(g, V, weight(g, kvdim, 1, 1));
            Q = reshape(g, Q, hd, nh, c->nT, 1);
            K = reshape(g, K, hd, nkv, c->nT, 1);
            V = reshape(g, V, hd, nkv, c->nT, 1);
        }
        if (f == FAM_QWEN3 || f == FAM_GEMMA3)
            Q = norm_w(c, Q, hd);
        if (f == FAM_PHI3 && freq < 0)
            freq = -1;
        Q = rope(g, Q, c->pos, freq);
        if (f == FAM_QWEN3 || f == FAM_GEMMA3)
            K = norm_w(c, K, hd);
        K = rope(g, K, c->pos, freq);
        if (gemma || f == FAM_PHI3)
            Q = scale(g, Q);
        int sinks = gptoss ? weight(g, nh, 1, 1) : -1;
        if (sinks >= 0)
            T(g, sinks)->type = T_F32;
        cur = attn_kv(c, il, Q, K, V, sinks, (int)qdim, h, gptoss);
        bool last = il == p->L - 1;
        if (last && !gptoss) {
            cur = get_rows(g, cur, c->out_ids);
            inpSA = get_rows(g, inpSA, c->out_ids);
        }
        int ffn_inp;
        if (gemma) {
            cur = norm_w(c, cur, h);
            ffn_inp = add(g, cur, inpSA);
        } else {
            ffn_inp = add(g, cur, inpSA);
        }
        int x;
        if (gptoss)
            x = norm_w(c, ffn_inp, h);          /* attn_post_norm */
        else
            x = norm_w(c, ffn_inp, h);          /* ffn_norm */
        int out;
        if (gptoss) {
            out = moe(c, x, il, false, true, true, false, false, false);
        } else if (p->E > 0) {
            out = moe(c, x, il, true, false, false, false, false, false);   /* llama, qwen3moe: norm_w */
        } else if (f == FAM_PHI3) {
            int up = mul_mat(g, weight(g, h, 2 * p->ff, 1), x);
            int act = glu(g, up, -1);
            out = mul_mat(g, weight(g, p->ff, h, 1), act);
        } else {
            out = ffn_par(c, x, p->ff);
        }
        if (gemma)
            out = norm_w(c, out, h);
        if (f == FAM_PHI3)
            cur = add(g, ffn_inp, out);
        else
            cur = add(g, out, ffn_inp);
        inpL = cur;
    }
    if (gptoss) {
        T(g, inpL)->flags |= F_OUTPUT;         /* t_h_nextn: the last layer's output */
        inpL = get_rows(g, inpL, c->out_ids);
    }
    head(c, inpL, f == FAM_GEMMA2);
}

/* deepseek2 with MLA: the K-only cache of the latent, V a view of it */
static void build_deepseek2(cx *c)
{
    graph *g = c->g;
    const hp *p = c->p;
    int64_t h = p->h, nh = p->nh, kvr = p->kv_lora, rope_d = p->rope, nope = p->nope, hdk = nope + rope_d;
    int inpL = inp_embd(c);
    c->pos = input(g, T_I32, c->nT, 1, 1, 1);
    attn_inputs(c, true);
    c->out_ids = input(g, T_I32, c->no, 1, 1, 1);
    for (int64_t il = 0; il < p->L; il++) {
        int inpSA = inpL;
        int cur = norm_w(c, inpL, h);
        int q;
        if (p->q_lora > 0) {
            q = mul_mat(g, weight(g, h, p->q_lora, 1), cur);
            q = norm_w(c, q, p->q_lora);
            q = mul_mat(g, weight(g, p->q_lora, nh * hdk, 1), q);
        } else {
            q = mul_mat(g, weight(g, h, nh * hdk, 1), cur);
        }
        q = reshape(g, q, hdk, nh, c->nT, 1);
        int kvpe = mul_mat(g, weight(g, h, kvr + rope_d, 1), cur);
        const gt *kp = T(g, kvpe);
        int64_t es = tsize_of(kp->type), rs = es * (kvr + rope_d);
        int kv_cmpr = view_nd(g, kvpe, kvr, c->nT, 1, 1, rs, 0, 0, 0);
        int k_pe = view_nd(g, kvpe, rope_d, 1, c->nT, 1, rs, rs, 0, es * kvr);
        k_pe = rope(g, k_pe, c->pos, -1);
        kv_cmpr = norm_w(c, kv_cmpr, kvr);
        const gt *qt = T(g, q);
        int q_nope = view_nd(g, q, nope, nh, c->nT, 1, qt->nb[1], qt->nb[2], 0, 0);
        qt = T(g, q);
        int q_pe = view_nd(g, q, rope_d, nh, c->nT, 1, qt->nb[1], qt->nb[2], 0, es * nope);
        q_pe = rope(g, q_pe, c->pos, -1);
        q_nope = permute(g, q_nope, 0, 2, 1, 3);
        int absorbed = mul_mat(g, weight(g, nope, kvr, nh), q_nope);
        absorbed = permute(g, absorbed, 0, 2, 1, 3);
        int Q = concat0(g, absorbed, q_pe);
        kv_cmpr = reshape(g, kv_cmpr, kvr, 1, c->nT, 1);
        int K = concat0(g, kv_cmpr, k_pe);
        int V = kv_cmpr;
        /* build_attn (K-only input) */
        expand(g, Q);
        expand(g, V);
        expand(g, K);
        expand(g, cpy_k(c, il, K, c->k_idxs));
        int kk = get_k(c, il, kvr + rope_d, 1, false);
        const gt *kt = T(g, kk);
        int vv = view_nd(g, kk, kvr, kt->ne[1], kt->ne[2], kt->ne[3], kt->nb[1], kt->nb[2], kt->nb[3], 0);
        int cur2 = attn_mha(c, Q, kk, vv, c->mask, -1, weight(g, kvr, p->vhd, nh));
        cur = mul_mat(g, weight(g, nh * p->vhd, h, 1), cur2);
        if (il == p->L - 1) {
            cur = get_rows(g, cur, c->out_ids);
            inpSA = get_rows(g, inpSA, c->out_ids);
        }
        int ffn_inp = add(g, cur, inpSA);
        int x = norm_w(c, ffn_inp, h);
        if (il < p->dense_lead || p->E == 0) {
            cur = ffn_par(c, x, p->ff);
        } else {
            int m = moe(c, x, il, false, false, false, false, false, false);
            int sh = ffn_par(c, x, p->ff_shexp);
            cur = add(g, m, sh);
        }
        cur = add(g, cur, ffn_inp);
        inpL = cur;
    }
    head(c, inpL, false);
}

/* ------------------------------------------------------------ sizes */

static int64_t pad256(int64_t v) { return (v + 255) / 256 * 256; }

static int check_ctx(const iw_llamacpp_ctx *c)
{
    if (c->n_ctx < 1 || c->n_seq < 1 || c->n_ubatch < 1 || c->n_batch < 1)
        return iw_error_set(IW_EINVAL, "estimate: llama.cpp context needs n_ctx, n_seq, n_batch and n_ubatch >= 1");
    if (c->n_seq > IW_EST_LLAMA_MAX_SEQ)
        return iw_error_set(IW_EINVAL, "estimate: llama.cpp holds at most %d sequences (LLAMA_MAX_SEQ); %lld asked",
                            IW_EST_LLAMA_MAX_SEQ, (long long)c->n_seq);
    return 0;
}

/* cparams as llama_context's constructor derives them */
typedef struct resolved {
    int64_t n_ctx, n_ctx_seq, n_stream, n_batch, n_ubatch, n_outputs_max;
} resolved;

static void resolve(const iw_llamacpp_ctx *c, resolved *r)
{
    int64_t n_ctx = c->n_ctx;
    r->n_batch = n_ctx < c->n_batch ? n_ctx : c->n_batch;     /* causal attention */
    r->n_ubatch = c->n_ubatch < r->n_batch ? c->n_ubatch : r->n_batch;
    r->n_outputs_max = c->n_outputs_max > 0 ? c->n_outputs_max : r->n_batch;
    n_ctx = pad256(n_ctx);
    if (c->kv_unified) {
        r->n_ctx_seq = n_ctx;
        r->n_stream = 1;
    } else {
        r->n_ctx_seq = pad256(n_ctx / c->n_seq);
        n_ctx = r->n_ctx_seq * c->n_seq;
        r->n_stream = c->n_seq;
    }
    r->n_ctx = n_ctx;
}

static int build(const iw_arch *a, const iw_llamacpp_ctx *ctx, graph *g, iw_llamacpp_mem *m, iw_strlist *warn)
{
    int rc;
    hp p;
    memset(&p, 0, sizeof p);
    memset(m, 0, sizeof *m);
    if ((rc = check_ctx(ctx)) || (rc = get_hp(a, &p, warn))) {
        hp_free(&p);
        return rc;
    }
    resolved r;
    resolve(ctx, &r);
    m->n_ctx = r.n_ctx;
    m->n_ctx_seq = r.n_ctx_seq;
    m->n_stream = r.n_stream;
    m->graph = p.graph;
    m->graph_exact = p.f != FAM_GENERIC;

    /* the caches: K rows of n_embd_k_gqa, V rows of n_embd_v_gqa (padded to
     * the widest layer when V is transposed); MLA keeps the latent in K only */
    int64_t size_swa = 0;
    if (p.has_swa) {
        int64_t w = p.n_swa * (ctx->kv_unified ? ctx->n_seq : 1) + r.n_ubatch;
        size_swa = ctx->swa_full ? r.n_ctx_seq : pad256(w < r.n_ctx_seq ? w : r.n_ctx_seq);
    }
    m->swa_cells = size_swa;
    int64_t vmax = 0;        /* a transposed V cache pads every layer to the widest */
    for (int64_t il = 0; il < p.L; il++)
        if (p.layer[il].n_kv_heads * p.layer[il].v_width > vmax)
            vmax = p.layer[il].n_kv_heads * p.layer[il].v_width;
    for (int64_t il = 0; il < p.L; il++) {
        const iw_kv_layer *kl = &p.layer[il];
        if (kl->kind == IW_LAYER_NONE || kl->kind == IW_LAYER_CROSS)
            continue;
        int64_t krow = row_size(ctx->type_k, kl->n_kv_heads * kl->k_width);
        int64_t vrow = kl->mla ? 0 : row_size(ctx->type_v, ctx->flash_attn ? kl->n_kv_heads * kl->v_width : vmax);
        bool swa = is_swa(&p, il);
        int64_t cells = (swa ? size_swa : r.n_ctx_seq) * r.n_stream;
        m->kv_bytes += (krow + vrow) * cells;
        if (swa) {
            m->kv_swa_layers++;
            m->k_row_swa += krow;
            m->v_row_swa += vrow;
        } else {
            m->kv_layers++;
            m->k_row += krow;
            m->v_row += vrow;
        }
    }

    /* the output buffer: logits of max(n_seq, 1) rows at creation */
    m->output_bytes = p.V * ctx->n_seq * 4;

    /* the reserved graph: n_tokens = min(n_ctx, n_ubatch) rounded up to a
     * multiple of the sequences, outputs min(n_tokens, n_outputs_max) */
    int64_t nT = r.n_ctx < r.n_ubatch ? r.n_ctx : r.n_ubatch;
    int64_t no = nT < r.n_outputs_max ? nT : r.n_outputs_max;
    if (nT % ctx->n_seq)
        nT = (nT + ctx->n_seq - 1) / ctx->n_seq * ctx->n_seq;
    m->n_tokens = nT;
    m->n_outputs = no;

    /* tensor 0: scratch returned by g_new once the graph is refused (too big,
     * out of memory), so the builders never index outside the array */
    g_new(g, T_F32, 1, 1, 1, 1);
    if (g->oom) {
        hp_free(&p);
        return iw_error_set(IW_ENOMEM, "estimate: out of memory");
    }
    g->t[0].ext = true;
    cx c;
    memset(&c, 0, sizeof c);
    c.g = g;
    c.p = &p;
    c.nT = nT;
    c.no = no;
    c.ns = r.n_stream;
    c.unified = ctx->kv_unified;
    c.fa = ctx->flash_attn;
    c.tk = ctx->type_k;
    c.tv = ctx->type_v;
    c.kv_size = c.n_kv = r.n_ctx_seq;
    c.kv_size_swa = c.n_kv_swa = size_swa;
    c.cache_k = malloc((size_t)p.L * sizeof(int));
    c.cache_v = malloc((size_t)p.L * sizeof(int));
    if (!c.cache_k || !c.cache_v) {
        free(c.cache_k);
        free(c.cache_v);
        hp_free(&p);
        return iw_error_set(IW_ENOMEM, "estimate: out of memory");
    }
    for (int64_t il = 0; il < p.L; il++) {
        const iw_kv_layer *kl = &p.layer[il];
        bool swa = is_swa(&p, il);
        int64_t cells = swa ? size_swa : r.n_ctx_seq;
        int64_t kw = kl->n_kv_heads * kl->k_width;
        int64_t vw = ctx->flash_attn ? kl->n_kv_heads * kl->v_width : vmax;
        c.cache_k[il] = leaf(g, ctx->type_k, kw, cells, r.n_stream, 1, true);
        c.cache_v[il] = p.mla ? -1 : leaf(g, ctx->type_v, vw, cells, r.n_stream, 1, true);
    }
    if (p.f == FAM_DEEPSEEK2 && p.mla)
        build_deepseek2(&c);
    else
        build_dense_like(&c);
    free(c.cache_k);
    free(c.cache_v);
    hp_free(&p);
    if (g->oom)
        return iw_error_set(IW_ENOMEM, "estimate: out of memory building the llama.cpp graph");
    if (g->too_big)
        return iw_error_set(IW_ELIMIT, "estimate: the llama.cpp graph of this model exceeds %d tensors or 4e18 B "
                            "per tensor; not sized", MAX_TENSORS);
    m->graph_nodes = g->n_nodes;
    return 0;
}

int iw_llamacpp_memory(const iw_arch *a, const iw_llamacpp_ctx *ctx, iw_llamacpp_mem *out, iw_strlist *warn)
{
    graph g;
    memset(&g, 0, sizeof g);
    int rc = build(a, ctx, &g, out, warn);
    if (rc == 0) {
        int64_t peak = replay(&g);
        if (g.oom)
            rc = iw_error_set(IW_ENOMEM, "estimate: out of memory replaying the llama.cpp graph");
        else if (peak < 0)
            rc = iw_error_set(IW_ELIMIT, "estimate: llama.cpp graph replay ran out of free blocks");
        else
            out->compute_bytes = peak;
    }
    graph_free(&g);
    return rc;
}

int iw_llamacpp_graph_dump(const iw_arch *a, const iw_llamacpp_ctx *ctx, const char *path)
{
    graph g;
    iw_llamacpp_mem m;
    memset(&g, 0, sizeof g);
    int rc = build(a, ctx, &g, &m, NULL);
    FILE *f = NULL;
    if (rc == 0 && !(f = fopen(path, "w")))
        rc = iw_error_set_os(IW_EIO, 0, "%s: cannot write", path);
    for (int pass = 0; rc == 0 && pass < 2; pass++) {
        int n = pass ? g.n_nodes : g.n_leafs;
        for (int i = 0; i < n; i++) {
            int id = pass ? g.nodes[i] : g.leafs[i];
            gt *t = &g.t[id];
            fprintf(f, "%s %d - %s %s %lld %lld %lld %lld %lld %lld %lld %lld %lld %d %d %d %lld",
                    pass ? "N" : "L", id, op_names[t->op], type_name(t->type),
                    (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                    (long long)t->nb[0], (long long)t->nb[1], (long long)t->nb[2], (long long)t->nb[3],
                    (long long)nbytes(t), t->flags, t->ext, t->view_src, (long long)t->view_offs);
            for (int j = 0; j < MAX_SRC; j++)
                if (t->src[j] >= 0)
                    fprintf(f, " %d", t->src[j]);
            fputc('\n', f);
        }
    }
    if (f)
        fclose(f);
    graph_free(&g);
    return rc;
}
