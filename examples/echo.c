/* echo: the smallest useful sioc server.
 *
 * Every event a client emits comes back to it under the same name with the
 * same arguments, and an acknowledgement, if asked for, gets them too.
 * SIGINT/SIGTERM close the server; the loop then ends by itself.
 *
 *   ./echo [port]      (default 3000; 0 picks a free one)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <sioc.h>

typedef struct app {
    sio_http_server *http;
    sio_server *io;
} app;

static void on_any(sio_socket *s, const char *event, const sio_args *args, sio_ack *ack, void *data)
{
    if (ack != NULL)
        sio_ack_send(ack, args);
    else
        sio_emit(s, event, args);
}

static void on_connection(sio_socket *s, void *data)
{
    sio_socket_on_any(s, on_any, NULL);
}

static void on_signal(sio_loop *loop, int signum, void *data)
{
    app *a = data;
    if (a->http == NULL)
        return;
    sio_server_close(a->io);
    sio_http_server_close(a->http, NULL, NULL);
    a->http = NULL;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 3000;
    app a = {0};
    sio_loop *loop;
    sio_server_options opts;
    sio_server_options_init(&opts); /* Node's defaults; path "/socket.io" */
    signal(SIGPIPE, SIG_IGN);
    int rc = sio_loop_new(&loop);
    rc = rc ? rc : sio_http_server_new(&a.http, loop, NULL);
    rc = rc ? rc : sio_server_new(&a.io, a.http, &opts);
    rc = rc ? rc : sio_http_server_listen(a.http, "127.0.0.1", port);
    if (rc < 0) {
        fprintf(stderr, "echo: %s\n", sio_strerror(rc));
        return 1;
    }
    sio_namespace_on_connection(sio_server_of(a.io, "/"), on_connection, NULL);
    sio_loop_on_signal(loop, SIGINT, on_signal, &a);
    sio_loop_on_signal(loop, SIGTERM, on_signal, &a);
    printf("listening on http://localhost:%d\n", sio_http_server_port(a.http));
    fflush(stdout);
    rc = sio_loop_run(loop);
    sio_server_free(a.io);
    sio_loop_free(loop);
    return rc < 0 ? 1 : 0;
}
