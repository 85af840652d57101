/* serveClient's files: see client_files.h. Reading happens here, once, with
 * stdio at server creation (before the loop serves anything). */
#define _GNU_SOURCE /* memmem */
#include "http/client_files.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "http/compress.h"

/* The names Node's clientPathRegex accepts, in its order of the variants:
 * socket.io(.msgpack|.esm)?(.min)?.js(.map)? that socket.io ships. */
static const char *const NAMES[] = {
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
    "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
};
#define NFILES (sizeof NAMES / sizeof NAMES[0])

typedef struct client_file {
    char *url;             /* prefix + "/" + name */
    int map;               /* a source map (JSON) */
    sio__buf data, gz, df; /* contents, gzip and deflate forms */
} client_file;

struct sio__client_files {
    client_file files[NFILES];
    size_t n;
    char etag[48];           /* "\"4.8.1\"": quoted, as Node sends it */
    sio__client_files *next; /* the HTTP server's list of sets */
};

sio__client_files **sio__client_files_next(sio__client_files *f)
{
    return &f->next;
}

/* Reads a whole file into b. 0, SIO_EIO (absent, unreadable), SIO_ENOMEM. */
static int read_all(const char *path, sio__buf *b)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return SIO_EIO;
    int rc = 0;
    char chunk[16384];
    size_t n;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        rc = sio__buf_append(b, chunk, n);
    if (rc == 0 && ferror(fp))
        rc = SIO_EIO;
    fclose(fp);
    return rc;
}

/* Node's ETag is the client's version: take it from the bundle's banner
 * ("Socket.IO v4.8.1"), else a hash of the contents. */
static void make_etag(sio__client_files *f, const sio__buf *js)
{
    const char *tag = "Socket.IO v";
    size_t look = js->len < 512 ? js->len : 512;
    const char *p = look ? memmem(js->data, look, tag, strlen(tag)) : NULL;
    if (p != NULL) {
        p += strlen(tag);
        size_t n = strspn(p, "0123456789.-abcdefghijklmnopqrstuvwxyz");
        if (n > 0 && n < sizeof f->etag - 3 && p + n <= js->data + js->len) {
            snprintf(f->etag, sizeof f->etag, "\"%.*s\"", (int)n, p);
            return;
        }
    }
    uint64_t h = 1469598103934665603ULL; /* FNV-1a 64 */
    for (size_t i = 0; i < js->len; i++)
        h = (h ^ (unsigned char)js->data[i]) * 1099511628211ULL;
    snprintf(f->etag, sizeof f->etag, "\"%016llx\"", (unsigned long long)h);
}

/* Loads dir/name as file i; absent optional files are skipped. */
static int add(sio__client_files *f, const char *prefix, const char *dir, size_t i)
{
    client_file *cf = &f->files[f->n];
    size_t plen = strlen(prefix), nlen = strlen(NAMES[i]);
    char *path = sio__malloc(strlen(dir) + nlen + 2);
    cf->url = sio__malloc(plen + nlen + 2);
    if (path == NULL || cf->url == NULL) {
        sio__free(path);
        sio__free(cf->url);
        cf->url = NULL;
        return SIO_ENOMEM;
    }
    sprintf(path, "%s/%s", dir, NAMES[i]);
    sprintf(cf->url, "%s/%s", prefix, NAMES[i]);
    sio__buf_init(&cf->data, 0);
    sio__buf_init(&cf->gz, 0);
    sio__buf_init(&cf->df, 0);
    int rc = read_all(path, &cf->data);
    sio__free(path);
    rc = rc ? rc : sio__http_compress("gzip", cf->data.data, cf->data.len, &cf->gz);
    rc = rc ? rc : sio__http_compress("deflate", cf->data.data, cf->data.len, &cf->df);
    cf->map = nlen > 4 && strcmp(NAMES[i] + nlen - 4, ".map") == 0;
    f->n++;                       /* freed with the set even when it failed */
    if (rc == SIO_EIO && i > 0) { /* optional: forget it */
        f->n--;
        sio__free(cf->url);
        sio__buf_free(&cf->data);
        sio__buf_free(&cf->gz);
        sio__buf_free(&cf->df);
        return 0;
    }
    return rc;
}

int sio__client_files_load(sio__client_files **out, const char *prefix, const char *dir)
{
    *out = NULL;
    if (prefix == NULL || dir == NULL)
        return SIO_EINVAL;
    size_t plen = strlen(prefix);
    while (plen > 0 && prefix[plen - 1] == '/')
        plen--; /* "/socket.io/" and "/socket.io" serve the same names */
    char *p = sio__strndup(prefix, plen);
    sio__client_files *f = sio__calloc(1, sizeof *f);
    int rc = f && p ? 0 : SIO_ENOMEM;
    for (size_t i = 0; rc == 0 && i < NFILES; i++)
        rc = add(f, p, dir, i);
    sio__free(p);
    if (rc < 0) {
        sio__client_files_free(f);
        return rc;
    }
    make_etag(f, &f->files[0].data);
    *out = f;
    return 0;
}

void sio__client_files_free(sio__client_files *f)
{
    for (size_t i = 0; f && i < f->n; i++) {
        sio__free(f->files[i].url);
        sio__buf_free(&f->files[i].data);
        sio__buf_free(&f->files[i].gz);
        sio__buf_free(&f->files[i].df);
    }
    sio__free(f);
}

/* If-None-Match equal to the tag or its weak form (Node compares the whole
 * header value, not a list). */
static int etag_matches(const sio__client_files *f, sio__slice inm)
{
    size_t n = strlen(f->etag);
    if (inm.base == NULL)
        return 0;
    if (inm.len == n && memcmp(inm.base, f->etag, n) == 0)
        return 1;
    return inm.len == n + 2 && memcmp(inm.base, "W/", 2) == 0 &&
           memcmp(inm.base + 2, f->etag, n) == 0;
}

int sio__client_files_answer(const sio__client_files *f, sio__slice path, sio__slice if_none_match,
                             sio__slice accept_encoding, sio__client_answer *out)
{
    const client_file *cf = NULL;
    for (size_t i = 0; f && i < f->n && cf == NULL; i++)
        if (strlen(f->files[i].url) == path.len &&
            memcmp(f->files[i].url, path.base, path.len) == 0)
            cf = &f->files[i];
    if (cf == NULL)
        return 0;
    memset(out, 0, sizeof *out);
    out->body = "";
    if (etag_matches(f, if_none_match)) {
        out->status = 304;
        return 1;
    }
    const char *coding = sio__http_pick_encoding(accept_encoding.base, accept_encoding.len);
    const sio__buf *b = coding == NULL ? &cf->data : coding[0] == 'g' ? &cf->gz : &cf->df;
    out->status = 200;
    snprintf(out->headers, sizeof out->headers,
             "Cache-Control: public, max-age=0\r\nContent-Type: application/%s; charset=utf-8\r\n"
             "ETag: %s\r\n%s%s%s",
             cf->map ? "json" : "javascript", f->etag, coding ? "Content-Encoding: " : "",
             coding ? coding : "", coding ? "\r\n" : "");
    out->body = b->data ? b->data : "";
    out->len = b->len;
    return 1;
}
