/* echo: the smallest useful sioc server.
 *
 * Every event a client emits comes back to it under the same name with the
 * same arguments, and an acknowledgement, if asked for, gets them too.
 * SIGINT/SIGTERM close the server; the loop then ends by itself.
 *
 *   ./echo [[--port] N]      (default 3000; 0 picks a free one)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <sioc.h>

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

/* Disconnects everyone, closes the HTTP server and frees both; the loop
 * then has nothing left and sio_loop_run returns. */
static void on_signal(sio_loop *loop, int signum, void *data)
{
    sio_server **io = data;
    if (*io != NULL)
        sio_server_shutdown(*io, NULL, NULL);
    *io = NULL; /* gone once the shutdown completes */
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[argc - 1]) : 3000;
    sio_loop *loop;
    sio_http_server *http;
    sio_server *io;
    sio_server_options opts;
    sio_server_options_init(&opts); /* Node's defaults; path "/socket.io" */
    signal(SIGPIPE, SIG_IGN);
    int rc = sio_loop_new(&loop);
    rc = rc ? rc : sio_http_server_new(&http, loop, NULL);
    rc = rc ? rc : sio_server_new(&io, http, &opts);
    rc = rc ? rc : sio_http_server_listen(http, "127.0.0.1", port);
    if (rc < 0) {
        fprintf(stderr, "echo: %s\n", sio_strerror(rc));
        return 1;
    }
    sio_namespace_on_connection(sio_server_of(io, "/"), on_connection, NULL);
    sio_loop_on_signal(loop, SIGINT, on_signal, &io);
    sio_loop_on_signal(loop, SIGTERM, on_signal, &io);
    printf("listening on http://localhost:%d\n", sio_http_server_port(http));
    fflush(stdout);
    rc = sio_loop_run(loop);
    sio_loop_free(loop);
    return rc < 0 ? 1 : 0;
}
