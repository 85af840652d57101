/* The admin UI instrumentation (Node's @socket.io/admin-ui 0.5
 * instrument()), sans-I/O: it lives inside a sio_server, hears of what
 * happens through the hooks below (called by the Socket.IO core when
 * srv->admin is set) and talks to the UI only by emitting to its admin
 * namespace. What needs the system (bcrypt off the loop, the host name,
 * the process's uptime) comes from the composition root
 * (server/admin_attach.c) through sio__admin_env; the clocks, timers and
 * random bytes are the server's (srv->env).
 *
 * Lifetime: created by sio__admin_new, owned by the server (srv->admin),
 * freed by sio_server_free through sio__admin_free after the clients are
 * closed and before the namespaces go. */
#ifndef SIO_SOCKETIO_ADMIN_H
#define SIO_SOCKETIO_ADMIN_H

#include "socketio/sio_internal.h"

typedef struct sio__admin sio__admin;

/* What the instrumentation needs from outside the core. */
typedef struct sio__admin_env {
    /* Checks password against a bcrypt hash without blocking the loop:
     * done(ok, arg) runs later on the loop thread, never before verify
     * returns, and exactly once if verify returned 0 (then even when the
     * admin was freed meanwhile: done must cope). < 0: not started. */
    int (*verify)(void *ctx, const char *hash, const char *password,
                  void (*done)(int ok, void *arg), void *arg);
    double (*uptime)(void *ctx); /* seconds since the process started */
    const char *hostname;        /* os.hostname() (copied) */
    long pid;                    /* process.pid */
    void *ctx;                   /* for the functions */
} sio__admin_env;

/* Instruments srv (sets srv->admin). Errors as sio_admin_instrument. */
int sio__admin_new(sio_server *srv, const sio_admin_options *o, const sio__admin_env *env);
/* Releases everything, pending password checks included (their
 * middleware steps end with "invalid credentials"). */
void sio__admin_free(sio__admin *a);

/* 1 if h looks like a bcrypt hash Node's bcryptjs.getRounds() accepts:
 * "$2a$", "$2b$" or "$2y$", two digits of rounds, "$", 53 characters. */
int sio__admin_is_bcrypt(const char *h);

/* ---- hooks, called by the core with srv->admin non-NULL */
/* A namespace was created (io.on("new_namespace")). */
void sio__admin_namespace_added(sio__admin *a, sio_namespace *nsp);
/* s connected (its CONNECT reply queued), before the namespace's
 * connection callback. */
void sio__admin_socket_connected(sio__admin *a, sio_socket *s);
/* The application set a key of s's data (sio_socket_data_set): Node's
 * Proxy set trap, socket_updated at once once s is instrumented. */
void sio__admin_socket_data_set(sio__admin *a, sio_socket *s);
/* The application may have changed s's data (after its connection
 * callback and after each incoming event): socket_updated if it did. */
void sio__admin_socket_touched(sio__admin *a, sio_socket *s);
/* Engine.IO sessions: opened, upgraded, closed with reason. */
void sio__admin_client_opened(sio__admin *a);
void sio__admin_client_upgraded(sio__admin *a, sio__client *c);
void sio__admin_client_closed(sio__admin *a, const char *reason);
/* One Engine.IO message of bytes bytes in (out = 0) or out (out = 1). */
void sio__admin_packet(sio__admin *a, int out, size_t bytes);

#endif
