/* sioc-protocol-server: the server the protocol test suites talk to.
 *
 * Engine.IO at /engine.io/ echoes every message as it came (text as text,
 * binary as binary) with pingInterval 300, pingTimeout 200, maxPayload 1e6
 * and CORS open to any origin; Socket.IO at /socket.io/ is set up by
 * protocol_server_socketio() (socketio.c). Port: --port N, else $PORT,
 * else 3000 (0 picks a free one). Prints "listening on http://localhost:N"
 * once listening; SIGINT/SIGTERM close everything and exit 0. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sioc.h"

/* Defined by socketio.c when the Socket.IO layer is built in. */
int protocol_server_socketio(sio_http_server *http) __attribute__((weak));

static void echo(sio_eio_socket *s, const char *msg, size_t len, int binary, void *data)
{
    sio_eio_send(s, msg, len, binary);
}

static void on_signal(sio_loop *loop, int signum, void *data)
{
    sio_http_server **http = data;
    if (*http) {
        sio_http_server_close(*http, NULL, NULL);
        *http = NULL;
    }
}

static int parse_port(int argc, char **argv)
{
    const char *p = getenv("PORT");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            p = argv[++i];
        else if (strncmp(argv[i], "--port=", 7) == 0)
            p = argv[i] + 7;
        else {
            fprintf(stderr, "usage: %s [--port N]\n", argv[0]);
            return -1;
        }
    }
    if (p == NULL)
        return 3000;
    char *end;
    long v = strtol(p, &end, 10);
    return (*p && *end == '\0' && v >= 0 && v <= 65535) ? (int)v : -1;
}

static int setup_engine(sio_http_server *http)
{
    sio_eio_options o;
    sio_eio_options_init(&o);
    o.path = "/engine.io";
    o.ping_interval = 300;
    o.ping_timeout = 200;
    o.max_http_buffer_size = 1000000;
    o.cors.any_origin = 1;
    o.cors.credentials = 1;
    static const sio_eio_callbacks cb = {NULL, echo, NULL};
    sio_eio_server *eio;
    return sio_eio_server_new(&eio, http, &o, &cb, NULL);
}

static int listen_any(sio_http_server *http, int port)
{
    int rc = sio_http_server_listen(http, "::", port);
    if (rc == SIO_EIO || rc == SIO_EINVAL)
        rc = sio_http_server_listen(http, "0.0.0.0", port);
    return rc;
}

int main(int argc, char **argv)
{
    int port = parse_port(argc, argv);
    if (port < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    sio_loop *loop;
    sio_http_server *http;
    int rc = sio_loop_new(&loop);
    rc = rc ? rc : sio_http_server_new(&http, loop, NULL);
    rc = rc ? rc : setup_engine(http);
    if (rc == 0 && protocol_server_socketio)
        rc = protocol_server_socketio(http);
    rc = rc ? rc : listen_any(http, port);
    if (rc < 0) {
        fprintf(stderr, "sioc-protocol-server: %s\n", sio_strerror(rc));
        return 1;
    }
    sio_loop_on_signal(loop, SIGINT, on_signal, &http);
    sio_loop_on_signal(loop, SIGTERM, on_signal, &http);
    printf("listening on http://localhost:%d\n", sio_http_server_port(http));
    fflush(stdout);
    rc = sio_loop_run(loop);
    sio_loop_free(loop);
    return rc < 0 ? 1 : 0;
}
