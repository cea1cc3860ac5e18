// oracle.cpp - ask llama.cpp itself what a model and a context cost.
//
// Built at run time by bench/llamacpp_oracle.sh (and the CI test) against the
// headers of the llama.cpp source that node-llama-cpp ships as a git bundle,
// and linked to node-llama-cpp's prebuilt CPU libraries.  Nothing of llama.cpp
// is part of this repository: only this file.
//
// Usage: oracle BINS_DIR MODEL.gguf [--mmap]
//   then one case per stdin line:
//     n_ctx_per_seq n_seq flash(0|1) type_k type_v n_ubatch [n_batch [n_outputs_max [kv_unified]]]
//   (types are ggml type ids: 1 f16, 8 q8_0, 2 q4_0; n_batch defaults to 2048;
//   n_outputs_max 0 = n_batch, the library and CLI default, while llama-server
//   reserves one output per slot; kv_unified 0 or 1).  The context has
//   swa_full = false, as in llama-cli and llama-server (the library default is true).
// Prints one JSON object per case on stdout:
//   {"ctx":..,"seqs":..,"fa":..,"tk":..,"tv":..,"ub":..,"nb":..,
//    "model":bytes,"kv":bytes,"compute":bytes,"output_mib":"x.xx","n_ctx":..,"ok":true}
// "model", "kv" (memory module: KV cells and recurrent state) and "compute"
// are exact bytes from llama_get_memory_breakdown, summed over buffer types;
// "output_mib" is the host output buffer as llama.cpp logs it (two decimals,
// the only place it is reported).  A case llama.cpp refuses prints
// {"ok":false,"error":...}.
//
// Without --mmap the model is loaded with no_alloc (llama.cpp's memory-fit
// mode: every size computed, nothing allocated); with --mmap the weights are
// mapped from the (sparse) file and the KV and compute buffers are really
// allocated, which shows both modes report the same sizes.
#include "llama.h"
#include "llama-ext.h"
#include "ggml-backend.h"
#include "ggml-impl.h"      // struct ggml_cgraph (leafs), for the ORACLE_DUMP graph listing

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <map>
#include <string>

static std::string g_log;

static void log_cb(ggml_log_level level, const char * text, void * /*ud*/) {
    g_log += text;
    if (getenv("ORACLE_VERBOSE") || level == GGML_LOG_LEVEL_ERROR) {
        fputs(text, stderr);
    }
}

static std::string json_escape(const std::string & s) {
    std::string o;
    for (char c : s) {
        if (c == '"' || c == '\\') { o += '\\'; o += c; }
        else if ((unsigned char) c < 0x20) { o += ' '; }
        else { o += c; }
    }
    return o;
}

// the last "output buffer size = X MiB" in the log since `from`
static std::string output_mib(size_t from) {
    const std::string key = "output buffer size =";
    size_t p = g_log.rfind(key);
    if (p == std::string::npos || p < from) {
        return "null";
    }
    p += key.size();
    while (p < g_log.size() && g_log[p] == ' ') p++;
    size_t e = p;
    while (e < g_log.size() && (isdigit((unsigned char) g_log[e]) || g_log[e] == '.')) e++;
    return "\"" + g_log.substr(p, e - p) + "\"";
}

static std::string last_error(size_t from) {
    // the first line since `from` that mentions an error (the cause; later ones repeat it)
    std::string tail = g_log.substr(from);
    size_t s = 0;
    while (s < tail.size()) {
        size_t e = tail.find('\n', s);
        if (e == std::string::npos) e = tail.size();
        std::string line = tail.substr(s, e - s);
        if (line.find("rror") != std::string::npos || line.find("does not") != std::string::npos) {
            return line;
        }
        s = e + 1;
    }
    return "context creation failed";
}

// ORACLE_DUMP=FILE: list the worst-case graph llama.cpp reserves for the case
// (leafs, then nodes in execution order; views and sources by index), the
// input of a graph-allocator replay when a compute term is being derived.
static void dump_graph(llama_context * lctx, const char * path, uint32_t n_tokens, uint32_t n_seqs, uint32_t n_outputs) {
    ggml_cgraph * gf = llama_graph_reserve(lctx, n_tokens, n_seqs, n_outputs);
    FILE * f = fopen(path, "w");
    if (!gf || !f) {
        if (f) fclose(f);
        return;
    }
    std::map<const ggml_tensor *, int> id;
    int next = 0;
    auto idof = [&](const ggml_tensor * t) -> int {
        if (!t) return -1;
        auto it = id.find(t);
        if (it != id.end()) return it->second;
        id[t] = next;
        return next++;
    };
    auto line = [&](const char * kind, const ggml_tensor * t) {
        std::string nm = t->name[0] ? t->name : "-";
        for (char & c : nm) if (c == ' ') c = '_';
        fprintf(f, "%s %d %s %s %s %lld %lld %lld %lld %zu %zu %zu %zu %zu %d %d %d %zu", kind, idof(t), nm.c_str(),
                ggml_op_desc(t), ggml_type_name(t->type), (long long) t->ne[0], (long long) t->ne[1],
                (long long) t->ne[2], (long long) t->ne[3], t->nb[0], t->nb[1], t->nb[2], t->nb[3], ggml_nbytes(t), t->flags,
                t->buffer != nullptr || t->data != nullptr, idof(t->view_src), t->view_offs);
        for (int j = 0; j < GGML_MAX_SRC; j++) {
            if (t->src[j]) fprintf(f, " %d", idof(t->src[j]));
        }
        fprintf(f, "\n");
    };
    for (int i = 0; i < gf->n_leafs; i++) line("L", gf->leafs[i]);
    for (int i = 0; i < gf->n_nodes; i++) line("N", gf->nodes[i]);
    fclose(f);
}

int main(int argc, char ** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s BINS_DIR MODEL.gguf [--mmap]\n", argv[0]);
        return 2;
    }
    const bool mmap_mode = argc > 3 && !strcmp(argv[3], "--mmap");
    llama_log_set(log_cb, nullptr);
    ggml_backend_load_all_from_path(argv[1]);
    llama_backend_init();

    llama_model_params mp = llama_model_default_params();
    mp.no_alloc = !mmap_mode;
    mp.load_mode = mmap_mode ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;   // as common/fit.cpp does
    mp.use_extra_bufts = false;   // no CPU repacking: weights keep their file layout, as on a GPU
    mp.n_gpu_layers = 0;
    llama_model * model = llama_model_load_from_file(argv[2], mp);
    if (!model) {
        printf("{\"ok\":false,\"error\":\"%s\"}\n", json_escape(last_error(0)).c_str());
        return 1;
    }

    char line[512];
    while (fgets(line, sizeof line, stdin)) {
        long ctx = 0, seqs = 0, fa = 0, tk = 1, tv = 1, ub = 512, nb = 2048, nout = 0, uni = 0;
        int n = sscanf(line, "%ld %ld %ld %ld %ld %ld %ld %ld %ld", &ctx, &seqs, &fa, &tk, &tv, &ub, &nb, &nout, &uni);
        if (n < 6) {
            continue;
        }
        llama_context_params cp = llama_context_default_params();
        cp.n_ctx = (uint32_t) (ctx * seqs);
        cp.n_seq_max = (uint32_t) seqs;
        cp.n_batch = (uint32_t) nb;
        cp.n_ubatch = (uint32_t) ub;
        cp.flash_attn_type = fa ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
        cp.type_k = (ggml_type) tk;
        cp.type_v = (ggml_type) tv;
        cp.n_outputs_max = (uint32_t) nout;
        cp.kv_unified = uni != 0;
        cp.swa_full = false;
        cp.n_threads = 1;
        cp.n_threads_batch = 1;
        printf("{\"ctx\":%ld,\"seqs\":%ld,\"fa\":%ld,\"tk\":%ld,\"tv\":%ld,\"ub\":%ld,\"nb\":%ld,\"nout\":%ld,\"unified\":%ld,",
               ctx, seqs, fa, tk, tv, ub, nb, nout, uni);
        size_t from = g_log.size();
        llama_context * lctx = llama_init_from_model(model, cp);
        if (!lctx) {
            printf("\"ok\":false,\"error\":\"%s\"}\n", json_escape(last_error(from)).c_str());
            fflush(stdout);
            continue;
        }
        if (getenv("ORACLE_DUMP")) {
            uint32_t nt = std::min<uint32_t>(llama_n_ctx(lctx), (uint32_t) ub);
            uint32_t no = std::min<uint32_t>(nt, nout > 0 ? (uint32_t) nout : std::min<uint32_t>((uint32_t) nb, llama_n_ctx(lctx)));
            dump_graph(lctx, getenv("ORACLE_DUMP"), nt, (uint32_t) seqs, no);
        }
        size_t m = 0, kv = 0, comp = 0;
        std::string bufts;
        for (const auto & [buft, d] : llama_get_memory_breakdown(lctx)) {
            m += d.model;
            kv += d.context;
            comp += d.compute;
            bufts += std::string(bufts.empty() ? "" : ",") + "\"" + ggml_backend_buft_name(buft) + "\":[" +
                     std::to_string(d.model) + "," + std::to_string(d.context) + "," + std::to_string(d.compute) + "]";
        }
        printf("\"model\":%zu,\"kv\":%zu,\"compute\":%zu,\"output_mib\":%s,\"n_ctx\":%u,\"n_params\":%llu,"
               "\"model_size\":%llu,\"bufts\":{%s},\"ok\":true}\n",
               m, kv, comp, output_mib(from).c_str(), llama_n_ctx(lctx),
               (unsigned long long) llama_model_n_params(model), (unsigned long long) llama_model_size(model),
               bufts.c_str());
        fflush(stdout);
        llama_free(lctx);
    }
    llama_model_free(model);
    return 0;
}
