/* uvloop: sioc inside a program that already runs its own libuv loop.
 *
 * The program owns the uv_loop_t, a timer of its own (a tick counter every
 * 100 ms) and its signal handling; sioc is one more user of that loop
 * (sio_loop_new_from_uv from sioc_uv.h). A client's "ticks" (ack) gets the
 * counter. On SIGTERM/SIGINT the program stops its own handles and asks
 * sioc to shut down; uv_run then returns, and the program frees the
 * sio_loop and closes its uv loop.
 *
 *   ./uvloop [[--port] N]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <sioc_uv.h>
#include <uv.h>

typedef struct app {
    uv_loop_t uv;
    uv_timer_t tick;
    uv_signal_t sigterm, sigint;
    sio_loop *loop;
    sio_server *io;
    long ticks;
} app;

static void on_tick(uv_timer_t *t)
{
    app *a = t->data;
    a->ticks++;
}

static void on_ticks(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    app *a = data;
    if (ack == NULL)
        return;
    sio_args *res = sio_args_json(json_pack("[I]", (json_int_t)a->ticks));
    sio_ack_send(ack, res);
    sio_args_free(res);
}

static void on_connection(sio_socket *s, void *data)
{
    sio_socket_on(s, "ticks", on_ticks, data);
}

/* The program's shutdown: its handles, then sioc's server. */
static void on_signal(uv_signal_t *h, int signum)
{
    app *a = h->data;
    uv_close((uv_handle_t *)&a->tick, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    sio_server_shutdown(a->io, NULL, NULL);
}

static int start_sioc(app *a, int port)
{
    sio_http_server *http;
    sio_server_options opts;
    sio_server_options_init(&opts);
    int rc = sio_loop_new_from_uv(&a->loop, &a->uv);
    rc = rc ? rc : sio_http_server_new(&http, a->loop, NULL);
    rc = rc ? rc : sio_server_new(&a->io, http, &opts);
    rc = rc ? rc : sio_http_server_listen(http, "127.0.0.1", port);
    if (rc < 0)
        return rc;
    sio_namespace_on_connection(sio_server_of(a->io, "/"), on_connection, a);
    printf("listening on http://localhost:%d\n", sio_http_server_port(http));
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[argc - 1]) : 3000;
    app a = {0};
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&a.uv);
    uv_timer_init(&a.uv, &a.tick);
    a.tick.data = &a;
    uv_timer_start(&a.tick, on_tick, 100, 100);
    uv_signal_init(&a.uv, &a.sigterm);
    uv_signal_init(&a.uv, &a.sigint);
    a.sigterm.data = a.sigint.data = &a;
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    int rc = start_sioc(&a, port);
    if (rc < 0) {
        fprintf(stderr, "uvloop: %s\n", sio_strerror(rc));
        return 1;
    }
    uv_run(&a.uv, UV_RUN_DEFAULT); /* the program's loop, sioc inside */
    sio_loop_free(a.loop);
    uv_run(&a.uv, UV_RUN_DEFAULT); /* lets sioc's handles finish closing */
    return uv_loop_close(&a.uv) == 0 ? 0 : 1;
}
