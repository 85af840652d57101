/* TLS through OpenSSL memory BIOs: see tls.h.
 *
 * Each connection has an SSL in server mode between two memory BIOs: rbio
 * gets the ciphertext read from the socket, wbio collects what must be
 * written. SSL_read is called until OpenSSL needs more input, so all the
 * plaintext a read completes is handed up at once (the caller's read
 * buffer bounds it), and no decrypted data stays behind in OpenSSL while
 * the connection stops reading for back-pressure. */
#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/rcbuf.h"

struct sio__tls_ctx {
    SSL_CTX *ssl;
};

struct sio__tls {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
};

int sio__tls_ctx_new(sio__tls_ctx **out, const sio_tls_options *o)
{
    *out = NULL;
    if (o->cert_file == NULL || o->key_file == NULL)
        return SIO_EINVAL;
    sio__tls_ctx *ctx = sio__calloc(1, sizeof *ctx);
    if (ctx == NULL || (ctx->ssl = SSL_CTX_new(TLS_server_method())) == NULL) {
        sio__free(ctx);
        return SIO_ENOMEM;
    }
    SSL_CTX *s = ctx->ssl;
    int ok = SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION) == 1 &&
             SSL_CTX_use_certificate_chain_file(s, o->cert_file) == 1 &&
             SSL_CTX_use_PrivateKey_file(s, o->key_file, SSL_FILETYPE_PEM) == 1 &&
             SSL_CTX_check_private_key(s) == 1;
    if (ok && o->ca_file != NULL) {
        /* Node's ca + requestCert + rejectUnauthorized: a client certificate
         * signed by this CA is required. */
        ok = SSL_CTX_load_verify_locations(s, o->ca_file, NULL) == 1;
        SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    /* Release the buffers of idle connections (a WebSocket mostly idles). */
    SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
    ERR_clear_error();
    if (!ok) {
        sio__tls_ctx_free(ctx);
        return SIO_EIO;
    }
    *out = ctx;
    return 0;
}

void sio__tls_ctx_free(sio__tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl);
    sio__free(ctx);
}

sio__tls *sio__tls_new(sio__tls_ctx *ctx)
{
    sio__tls *t = sio__calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->ssl = SSL_new(ctx->ssl);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        sio__free(t);
        return NULL;
    }
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_accept_state(t->ssl);
    return t;
}

void sio__tls_free(sio__tls *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl); /* frees the BIOs */
    sio__free(t);
}

/* What an SSL call's result means here. */
static int ssl_status(sio__tls *t, int r)
{
    switch (SSL_get_error(t->ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        return SIO_ECLOSED;
    default:
        ERR_clear_error(); /* the queue is per thread: leave it empty */
        return SIO_EPROTO;
    }
}

int sio__tls_feed(sio__tls *t, const char *in, size_t len, sio__buf *plain)
{
    if (len > 0 && BIO_write(t->rbio, in, (int)len) != (int)len)
        return SIO_ENOMEM;
    if (!SSL_is_init_finished(t->ssl)) {
        int r = SSL_do_handshake(t->ssl);
        if (r != 1)
            return ssl_status(t, r);
    }
    for (;;) {
        if (sio__buf_reserve(plain, plain->len + 16384) < 0)
            return SIO_ENOMEM;
        int r = SSL_read(t->ssl, plain->data + plain->len, 16384);
        if (r <= 0)
            return ssl_status(t, r);
        plain->len += (size_t)r;
    }
}

int sio__tls_ready(const sio__tls *t)
{
    return SSL_is_init_finished(t->ssl);
}

int sio__tls_encrypt(sio__tls *t, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        int n = len > (1u << 30) ? 1 << 30 : (int)len;
        int r = SSL_write(t->ssl, p, n);
        if (r <= 0)
            return ssl_status(t, r) == 0 ? SIO_ENOMEM : SIO_EPROTO;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

size_t sio__tls_pending(const sio__tls *t)
{
    return BIO_ctrl_pending(t->wbio);
}

sio__rcbuf *sio__tls_output(sio__tls *t, int *err)
{
    size_t n = BIO_ctrl_pending(t->wbio);
    *err = 0;
    if (n == 0)
        return NULL;
    sio__rcbuf *b = sio__rcbuf_new(NULL, n);
    if (b == NULL || BIO_read(t->wbio, b->data, (int)n) != (int)n) {
        sio__rcbuf_unref(b);
        *err = SIO_ENOMEM;
        return NULL;
    }
    return b;
}
