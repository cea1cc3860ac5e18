/* The registry scanner (src/registry/jscan.c): strict RFC 8259, the same
 * refusals as the cJSON path it replaces, spans and names of entries. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/jscan.h"
#include "iwdl/registry.h"
#include "iwdl/error.h"
#include "iwdl/json.h"

/* Scan; on refusal return the error text (static), on success NULL. */
static const char *refusal(const char *text, size_t len)
{
    static char msg[1024];
    iw_jscan s;
    iw_error_clear();
    int rc = iw_jscan_registry(text, len, "reg.json", &s);
    if (rc == 0) {
        iw_jscan_free(&s);
        return NULL;
    }
    snprintf(msg, sizeof msg, "%s", iw_error_last());
    cr_assert_null(strchr(msg, '\n'), "multi-line error: %s", msg);
    cr_assert(strstr(msg, "reg.json"), "error does not name the file: %s", msg);
    cr_assert(strstr(msg, "refusing to use or overwrite it"), "%s", msg);
    return msg;
}

static void refused(const char *text, const char *want)
{
    const char *m = refusal(text, strlen(text));
    cr_assert_not_null(m, "accepted: %s", text);
    cr_assert(strstr(m, want), "'%s': error '%s' lacks '%s'", text, m, want);
}

static void accepted(const char *text)
{
    const char *m = refusal(text, strlen(text));
    cr_assert_null(m, "'%s' refused: %s", text, m ? m : "");
}

/* An entry with one extra member `v` holding `value`. */
static void value_refused(const char *value, const char *want)
{
    char t[4096];
    snprintf(t, sizeof t, "[{\"name\":\"a\",\"v\":%s}]", value);
    refused(t, want);
}

static void value_accepted(const char *value)
{
    char t[4096];
    snprintf(t, sizeof t, "[{\"name\":\"a\",\"v\":%s}]", value);
    accepted(t);
}

/* What the cJSON path (iw_json_parse + iw_registry_validate) says. */
static bool old_accepts(const char *text, size_t len)
{
    cJSON *j = NULL;
    iw_error_clear();
    if (iw_json_parse(text, len, "reg.json", &j, NULL) < 0)
        return false;
    bool ok = iw_registry_validate(j, text, len, "reg.json") == 0;
    cJSON_Delete(j);
    return ok;
}

static const char *SMALL =
    "[\n"
    "  {\"name\": \"qwen2.5-7b_(AWQ)\", \"backend\": \"vllm\", \"x\": [1, -2.5e3, true, false, null],\n"
    "   \"metadata\": {\"architecture\": {\"head_dim\": 128, \"s\": \"\\u00e9\\n\\\"q\\\"\"}}},\n"
    "  {\"display_name\": \"b first\", \"name\": \"b\\u00e9\"},\n"
    "  {\"name\": \"c\", \"nested\": {\"name\": 7}}\n"
    "]\n";

Test(jscan, spans_and_names)
{
    iw_jscan s;
    size_t len = strlen(SMALL);
    cr_assert_eq(iw_jscan_registry(SMALL, len, "reg.json", &s), 0, "%s", iw_error_last());
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.skip, 0);
    cr_assert_eq(SMALL[s.open], '[');
    cr_assert_eq(SMALL[s.close], ']');
    cr_assert_eq(s.close, len - 2);
    cr_assert_str_eq(s.ents[0].name, "qwen2.5-7b_(AWQ)");
    cr_assert_str_eq(s.ents[1].name, "b\xc3\xa9", "escaped name decoded");
    cr_assert_str_eq(s.ents[2].name, "c", "a nested \"name\" is not the entry's");
    /* each span is exactly one element: cJSON parses it whole */
    for (size_t i = 0; i < s.n; i++) {
        cr_assert_eq(SMALL[s.ents[i].start], '{');
        cr_assert_eq(SMALL[s.ents[i].end - 1], '}');
        const char *end = NULL;
        cJSON *e = cJSON_ParseWithLengthOpts(SMALL + s.ents[i].start, s.ents[i].end - s.ents[i].start, &end, 0);
        cr_assert_not_null(e);
        cr_assert_eq(end, SMALL + s.ents[i].end);
        cr_assert_str_eq(iw_json_get_str(e, "name"), s.ents[i].name);
        cJSON_Delete(e);
    }
    iw_jscan_free(&s);
    /* validate-only mode */
    cr_assert_eq(iw_jscan_registry(SMALL, len, "reg.json", NULL), 0);
}

/* Every cut of a small registry short of its closing bracket is refused as
 * truncated, as the cJSON path refused it; longer cuts (only the newline
 * missing) are fine. */
Test(jscan, truncation_at_every_offset)
{
    size_t len = strlen(SMALL);
    size_t last = strrchr(SMALL, ']') - SMALL;
    for (size_t k = 0; k < len; k++) {
        char *cut = malloc(k ? k : 1);
        memcpy(cut, SMALL, k);   /* not NUL-terminated: the scanner must not read past k */
        const char *m = refusal(cut, k);
        if (k <= last) {
            cr_assert_not_null(m, "cut at %zu accepted", k);
            cr_assert(strstr(m, "truncated"), "cut at %zu: %s", k, m);
        } else {
            cr_assert_null(m, "cut at %zu refused: %s", k, m);
        }
        cr_assert_eq(old_accepts(cut, k), m == NULL, "cut at %zu: cJSON path disagrees", k);
        free(cut);
    }
}

Test(jscan, strings_and_escapes)
{
    value_accepted("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\u00e9 \\uD83D\\uDE00\"");
    value_accepted("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    value_refused("\"\\x\"", "invalid JSON: unexpected character");
    value_refused("\"\\u12G4\"", "invalid JSON: unexpected character");
    value_refused("\"\\uDC00\"", "invalid JSON: unexpected character");            /* low surrogate alone */
    value_refused("\"\\uD800x\"", "invalid JSON: unexpected character");           /* high surrogate alone */
    value_refused("\"\\uD800\\u0041\"", "invalid JSON: unexpected character");     /* not followed by a low one */
    value_refused("\"a\tb\"", "invalid JSON: unexpected character");               /* raw control character */
    value_refused("\"\xc0\x80\"", "invalid JSON: unexpected character");           /* overlong NUL */
    value_refused("\"\xed\xa0\x80\"", "invalid JSON: unexpected character");       /* UTF-8 encoded surrogate */
    value_refused("\"\xf4\x90\x80\x80\"", "invalid JSON: unexpected character");   /* above U+10FFFF */
    value_refused("\"\x80\"", "invalid JSON: unexpected character");               /* lone continuation byte */
    value_refused("\"\xe2\x82\"", "invalid JSON: unexpected character");           /* cut sequence */
    value_refused("'single'", "invalid JSON: unexpected character");
    /* a key must be a string */
    refused("[{\"name\":\"a\", v: 1}]", "invalid JSON: unexpected character");
    refused("[{\"name\":\"a\",}]", "invalid JSON: unexpected character");
    refused("[{\"name\":\"a\" \"v\":1}]", "invalid JSON: unexpected character");
}

Test(jscan, numbers_and_literals)
{
    const char *ok[] = { "0", "-0", "7", "-12", "1.5", "-0.25", "1e10", "1E+2", "2e-3", "-1.5e-3",
                         "123456789012345678901234567890123456789012345678901234567890123" /* 63 */ };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        value_accepted(ok[i]);
    const char *bad[] = { "01", "-01", "1.", ".5", "+1", "-", "1e", "1e+", "0x10", "NaN", "Infinity", "-Infinity",
                          "1.5.3", "tru", "nul", "falsy", "True", "None",
                          "1234567890123456789012345678901234567890123456789012345678901234" /* 64: cJSON cannot */ };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        value_refused(bad[i], "invalid JSON");
    value_refused("[1,]", "invalid JSON: unexpected character");
    value_refused("[,1]", "invalid JSON: unexpected character");
    value_refused("{\"a\":1 \"b\":2}", "invalid JSON: unexpected character");
}

Test(jscan, whitespace_bom_crlf)
{
    accepted("\xef\xbb\xbf[{\"name\":\"a\"}]");
    accepted("[{\"name\":\"a\"},\r\n {\"name\":\"b\"}]\r\n");
    accepted(" \t\n[ ]\n\n");
    refused("[{\"name\":\"a\"}]\f", "unexpected data after the JSON value");
    refused("[\v{\"name\":\"a\"}]", "invalid JSON: unexpected character");
    refused("[\xc2\xa0{\"name\":\"a\"}]", "invalid JSON: unexpected character");   /* a no-break space is not JSON whitespace */
    iw_jscan s;
    const char *t = "\xef\xbb\xbf[{\"name\":\"a\"}]";
    cr_assert_eq(iw_jscan_registry(t, strlen(t), "reg.json", &s), 0);
    cr_assert_eq(s.skip, 3);
    cr_assert_eq(s.open, 3);
    cr_assert_eq(s.ents[0].start, 4);
    iw_jscan_free(&s);
}

Test(jscan, deep_nesting_capped)
{
    /* a value at depth 128 is fine, 129 is refused (iw_json_parse's cap);
     * past cJSON's own 1000 the text is refused as invalid */
    for (int depth = 127; depth <= 129; depth++) {
        /* root array (0) > entry object (1) > "v" (2) ... */
        size_t open = (size_t)depth - 2;   /* arrays holding the innermost value */
        char *t = malloc(open * 2 + 64);
        size_t k = (size_t)sprintf(t, "[{\"name\":\"a\",\"v\":");
        for (size_t i = 0; i < open; i++) t[k++] = '[';
        t[k++] = '1';
        for (size_t i = 0; i < open; i++) t[k++] = ']';
        k += (size_t)sprintf(t + k, "}]");
        const char *m = refusal(t, k);
        if (depth <= 128)
            cr_assert_null(m, "depth %d refused: %s", depth, m);
        else
            cr_assert(m && strstr(m, "nested deeper than 128 levels"), "depth %d: %s", depth, m ? m : "accepted");
        cr_assert_eq(old_accepts(t, k), m == NULL, "depth %d: cJSON path disagrees", depth);
        free(t);
    }
    size_t n = 5000;
    char *t = malloc(2 * n + 1);
    memset(t, '[', n);
    memset(t + n, ']', n);
    t[2 * n] = 0;
    refused(t, "invalid JSON: unexpected character");
    free(t);
}

Test(jscan, registry_rules)
{
    refused("{\"name\":\"a\"}", "reg.json:1:1: expected a JSON array of entries");
    refused("  42", "reg.json:1:3: expected a JSON array of entries");
    refused("[{\"name\":\"a\"},\n 42]", "reg.json:2:2: entry is not an object");
    refused("[[], {\"name\":\"a\"}]", ":1:2: entry is not an object");
    refused("[{\"name\":\"a\"}, \"s\"]", ":1:16: entry is not an object");
    refused("[null]", "entry is not an object");
    refused("[{}]", ":1:2: entry has no string \"name\"");
    refused("[{\"name\":7}]", "no string \"name\"");
    refused("[{\"name\":\"\"}]", "no string \"name\"");
    refused("[{\"name\":null}]", "no string \"name\"");
    refused("[{\"name\":{\"x\":\"y\"}}]", "no string \"name\"");
    /* the first "name" key is the one cJSON_GetObjectItem finds */
    refused("[{\"name\":1,\"name\":\"x\"}]", "no string \"name\"");
    accepted("[{\"name\":\"x\",\"name\":1}]");
    /* an escaped key is still "name"; a name holding a decoded NUL is refused
     * (cJSON's C strings would cut it into another name) */
    accepted("[{\"n\\u0061me\":\"x\"}]");
    refused("[{\"name\":\"\\u0000x\"}]", "entry name contains a NUL character");
    char big[600];
    snprintf(big, sizeof big, "[{\"name\":\"%0256d\"}]", 0);
    accepted(big);
    snprintf(big, sizeof big, "[{\"name\":\"%0257d\"}]", 0);
    refused(big, "entry name longer than 256 bytes");
    /* duplicates: reported at the earliest second occurrence */
    refused("[{\"name\":\"a\"},\n  {\"name\":\"b\"},\n  {\"name\":\"a\"}]", "reg.json:3:3: duplicate entry name 'a'");
    refused("[{\"name\":\"b\"},{\"name\":\"a\"},\n{\"name\":\"a\"},\n{\"name\":\"b\"}]", ":2:1: duplicate entry name 'a'");
    refused("[{\"name\":\"\\u00e9\"},\n{\"name\":\"\xc3\xa9\"}]", ":2:1: duplicate entry name");
    refused("[{\"name\":\"a\\u0000b\"},\n{\"name\":\"a\"}]", ":1:2: entry name contains a NUL character");
    /* the file-level refusals */
    refused("", "reg.json:1:1: invalid JSON: truncated");
    refused("   ", "truncated");
    refused("[{\"name\":\"a\"}] garbage", "reg.json:1:16: unexpected data after the JSON value");
    refused("[{\"name\":\"a\"}][]", "unexpected data after the JSON value");
    refused("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n", "Git LFS pointer");
    const char nul[] = "[{\"name\":\"a\"}]\0";
    const char *m = refusal(nul, sizeof nul - 1);
    cr_assert(m && strstr(m, "NUL byte at offset 14"), "%s", m ? m : "accepted");
    accepted("[]");
}

/* The inputs above that the cJSON path also refuses stay refused; the
 * scanner is stricter only where RFC 8259 is (and the original's Python
 * json.loads refuses too). */
Test(jscan, agrees_with_the_cjson_path)
{
    const char *both[] = {
        "[{\"name\":\"a\"}]", "[]", "[{\"name\":\"a\",\"v\":[1,{\"b\":null}]}]", "{\"name\":\"a\"}",
        "[{\"name\":\"a\"},{\"name\":\"a\"}]", "[{\"name\":\"a\"} x", "[{\"name\":\"a\",\"v\":\"\\x\"}]",
        "[{\"name\":\"a\",\"v\":\"\\uDC00\"}]", "[{\"name\":\"a\",\"v\":NaN}]", "[{\"name\":\"a\",\"v\":.5}]",
        "[{\"name\":1}]", "[42]", "[{\"name\":\"a\",\"v\":tru}]",
    };
    for (size_t i = 0; i < sizeof both / sizeof *both; i++) {
        bool ok = refusal(both[i], strlen(both[i])) == NULL;
        cr_assert_eq(ok, old_accepts(both[i], strlen(both[i])), "'%s': scanner %s, cJSON path disagrees",
                     both[i], ok ? "accepts" : "refuses");
    }
    /* stricter than cJSON, as documented */
    const char *stricter[] = { "[{\"name\":\"a\",\"v\":01}]", "[{\"name\":\"a\",\"v\":1.}]",
                               "[{\"name\":\"a\",\"v\":\"a\tb\"}]", "[{\"name\":\"a\",\"v\":\"\xc0\x80\"}]",
                               "[{\"name\":\"a\",\"v\":\"\\u000y\"}]", "[\v{\"name\":\"a\"}]" };
    for (size_t i = 0; i < sizeof stricter / sizeof *stricter; i++) {
        cr_assert_not_null(refusal(stricter[i], strlen(stricter[i])), "%s", stricter[i]);
        cr_assert(old_accepts(stricter[i], strlen(stricter[i])), "cJSON refuses %s too: move it up", stricter[i]);
    }
}

/* Random edits of small registries (seeded, so reproducible): whatever the
 * scanner accepts, the cJSON path accepts too, with the same entries, and
 * each span parses alone to the entry with that name.  Under ASan this also
 * shows the scanner never reads outside the text. */
Test(jscan, random_edits_agree_with_cjson, .timeout = 120)
{
    static const char *seeds[] = {
        "[\n  {\"name\": \"qwen2.5-7b_(AWQ)\", \"x\": [1, -2.5e3, true, false, null],\n"
        "   \"metadata\": {\"architecture\": {\"head_dim\": 128, \"s\": \"\\u00e9\\n\\\"q\\\"\"}}},\n"
        "  {\"display_name\": \"b first\", \"name\": \"b\\u00e9\"},\n  {\"name\": \"c\", \"nested\": {\"name\": 7}}\n]\n",
        "[{\"name\":\"a\",\"v\":[[[{}]]],\"u\":\"\\uD83D\\uDE00\"},{\"name\":\"b\"}]",
        "\xef\xbb\xbf[ {\"name\" : \"x\\u0000y\" } ,\r\n{\"name\":\"z\",\"n\":-0.5E+10} ]",
    };
    static const char alphabet[] = "[]{}\",:\\ \t\n\r0123456789-+.eEtruefalsnu\x80\xc3\xa9/abnameDd";
    unsigned seed = 12345;
    long accepted_n = 0;
    for (long it = 0; it < 40000; it++) {
        const char *base = seeds[it % 3];
        char buf[1024];
        size_t len = strlen(base);
        memcpy(buf, base, len);
        int edits = 1 + (int)(rand_r(&seed) % 3);
        for (int m = 0; m < edits; m++) {
            int op = (int)(rand_r(&seed) % 3);
            size_t pos = len ? (size_t)rand_r(&seed) % len : 0;
            char c = alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
            if (op == 0 && len) {
                buf[pos] = c;
            } else if (op == 1 && len + 1 < sizeof buf) {
                memmove(buf + pos + 1, buf + pos, len - pos);
                buf[pos] = c;
                len++;
            } else if (op == 2 && len) {
                memmove(buf + pos, buf + pos + 1, len - pos - 1);
                len--;
            }
        }
        char *t = malloc(len ? len : 1);   /* exactly len bytes: ASan sees any overread */
        memcpy(t, buf, len);
        iw_jscan s;
        if (iw_jscan_registry(t, len, "reg.json", &s) == 0) {
            accepted_n++;
            cJSON *j = NULL;
            cr_assert_eq(iw_json_parse(t, len, "reg.json", &j, NULL), 0, "cJSON refuses what the scanner took: %.*s", (int)len, t);
            cr_assert_eq(iw_registry_validate(j, t, len, "reg.json"), 0, "%.*s", (int)len, t);
            cr_assert_eq((size_t)cJSON_GetArraySize(j), s.n);
            for (size_t i = 0; i < s.n; i++) {
                cJSON *e = cJSON_ParseWithLengthOpts(t + s.ents[i].start, s.ents[i].end - s.ents[i].start, NULL, 0);
                cr_assert_not_null(e, "span %zu of %.*s", i, (int)len, t);
                cr_assert_str_eq(iw_json_get_str(e, "name"), s.ents[i].name);
                cr_assert_str_eq(iw_json_get_str(cJSON_GetArrayItem(j, (int)i), "name"), s.ents[i].name);
                cJSON_Delete(e);
            }
            cJSON_Delete(j);
            iw_jscan_free(&s);
        }
        free(t);
    }
    cr_assert_gt(accepted_n, 1000, "the edits left too few valid registries to compare (%ld)", accepted_n);
}
