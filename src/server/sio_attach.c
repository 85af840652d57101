/* The composition root of a Socket.IO server: sio_server_new creates the
 * Engine.IO server on the HTTP server (server/eio_attach.c) and the
 * Socket.IO core above it, and joins them: each Engine.IO session becomes a
 * sio__client whose transport ops are sio__eio_send_rc (shared buffers, no
 * copy) and sio_eio_close; the core's clock, timer wheel and random bytes
 * are the loop's and the kernel's (server/env.h).
 * Everything else is in the sans-I/O core, which unit tests drive without
 * this file. */
#include "core/error.h"
#include "core/metrics.h"
#include "engine/eio_internal.h"
#include "engine/eio_server.h"
#include "net/net.h"
#include "server/env.h"
#include "http/client_files.h"
#include "socketio/sio_internal.h"

_Static_assert((int)SIO__SEND_BINARY == (int)SIO__EIO_SEND_BINARY &&
                   (int)SIO__SEND_NOCOMPRESS == (int)SIO__EIO_SEND_NOCOMPRESS,
               "send flags are passed through");

static int glue_send(void *conn, sio__rcbuf *msg, int flags)
{
    return sio__eio_send_rc(conn, msg, flags);
}

static void glue_close(void *conn)
{
    sio_eio_close(conn);
}

static size_t glue_buffered(void *conn)
{
    return sio_eio_socket_buffered(conn);
}

static const sio_handshake *glue_handshake(void *conn)
{
    return sio_eio_socket_handshake(conn);
}

static const char *glue_id(void *conn)
{
    return sio_eio_socket_id(conn);
}

static int glue_transport(void *conn)
{
    return sio_eio_socket_transport(conn);
}

static const sio__conn_ops glue_ops = {glue_send,      glue_close, glue_buffered,
                                       glue_handshake, glue_id,    glue_transport};

static void on_connection(sio_eio_socket *es, void *data)
{
    sio_server *srv = data;
    /* The handshake view is built only if the application asks for it. */
    sio__client *c = sio__client_open(srv, &glue_ops, es, NULL);
    if (c == NULL) {
        sio_eio_close(es);
        return;
    }
    sio_eio_socket_set_data(es, c);
}

static void on_message(sio_eio_socket *es, const char *msg, size_t len, int binary, void *data)
{
    sio__client *c = sio_eio_socket_get_data(es);
    if (c != NULL)
        sio__client_message(c, msg, len, binary);
}

static void on_close(sio_eio_socket *es, const char *reason, void *data)
{
    sio__client *c = sio_eio_socket_get_data(es);
    if (c == NULL)
        return;
    sio_eio_socket_set_data(es, NULL);
    sio__client_closed(c, reason);
}

static void on_drain(sio_eio_socket *es, void *data)
{
    sio__client *c = sio_eio_socket_get_data(es);
    if (c != NULL)
        sio__client_drained(c);
}

static void on_upgrade(sio_eio_socket *es, void *data)
{
    sio__client *c = sio_eio_socket_get_data(es);
    if (c != NULL)
        sio__client_upgraded(c);
}

static void free_client_files(void *files)
{
    sio__client_files_free(files);
}

int sio_server_new(sio_server **out, sio_http_server *http, const sio_server_options *opts)
{
    sio_server *srv;
    sio__env env;
    sio__server_env(http->loop, &env);
    int rc = sio__server_new_core(&srv, opts, &env);
    if (rc < 0)
        return rc;
    if (opts->serve_client_dir != NULL) {
        sio__client_files *files = NULL;
        rc = sio__client_files_load(&files, opts->eio.path, opts->serve_client_dir);
        if (rc < 0) {
            sio_server_free(srv);
            return rc;
        }
        srv->client_files = files;
        srv->client_files_free = free_client_files;
    }
    static const sio_eio_callbacks cb = {on_connection, on_message, on_close, on_drain};
    rc = sio_eio_server_new(&srv->eio, http, &opts->eio, &cb, srv);
    if (rc < 0) {
        sio_server_free(srv);
        return rc;
    }
    sio__eio_server_on_upgrade(srv->eio, on_upgrade);
    srv->http = http;
    if (srv->client_files != NULL)
        sio__http_server_serve_client(http, srv->client_files);
    /* the engine copied what it needs; these pointers are the caller's */
    srv->opts.eio.cors.origins = NULL;
    srv->opts.eio.cors.norigins = 0;
    *out = srv;
    return 0;
}

void sio_server_metrics(const sio_server *srv, sio_metrics *out)
{
    *out = srv->metrics;
    if (srv->eio != NULL)
        sio__metrics_sum(out, &srv->eio->metrics);
    if (srv->http != NULL)
        sio__metrics_sum(out, &srv->http->metrics);
}

/* The HTTP server is closed: everything below the Socket.IO server is
 * released, so it can go too, and then the program hears of it. */
static void shutdown_http_closed(void *data)
{
    sio_server *srv = data;
    void (*cb)(void *) = srv->shutdown_cb;
    void *cb_data = srv->shutdown_data;
    sio_server_free(srv);
    if (cb)
        cb(cb_data);
}

void sio_server_shutdown(sio_server *srv, void (*cb)(void *data), void *data)
{
    if (srv->http == NULL || srv->shutting_down)
        return;
    srv->shutting_down = 1;
    srv->shutdown_cb = cb;
    srv->shutdown_data = data;
    sio_server_close(srv);
    sio_http_server_close(srv->http, shutdown_http_closed, srv);
}

void sio_server_on_connection_error(sio_server *srv, sio_connection_error_cb cb, void *data)
{
    if (srv->eio != NULL)
        sio_eio_server_on_connection_error(srv->eio, cb, data);
}
