/* sioc-protocol-server: the server the protocol test suites talk to.
 *
 * Engine.IO at /engine.io/ echoes every message as it came (text as text,
 * binary as binary) with pingInterval 300, pingTimeout 200, maxPayload 1e6
 * and CORS open to any origin; Socket.IO at /socket.io/ is set up by
 * protocol_server_socketio() (socketio.c). Port: --port N, else $PORT,
 * else 3000 (0 picks a free one). Prints "listening on http://localhost:N"
 * once listening; SIGINT/SIGTERM close everything and exit 0.
 *
 * So the robustness tests can reach the limits quickly, these options
 * override the library defaults (include/sioc.h): --headers-timeout MS,
 * --request-timeout MS, --keep-alive-timeout MS, --max-connections N (HTTP
 * server), --max-outbound-bytes N, --ping-interval MS and --ping-timeout MS
 * (the /engine.io/ sessions; the heartbeat options let a memory measurement
 * keep thousands of sessions idle). The abuse limits (include/sioc.h, off or
 * at the library defaults unless asked): --max-connections-per-address N
 * (HTTP server), --handshake-rate N and --handshake-burst N (both Engine.IO
 * servers), --max-dynamic-namespaces N, --max-rooms-per-socket N and
 * --max-rooms N (/socket.io/). Each also accepts the --name=value form.
 * --metrics serves GET /metrics (sio_metrics_format: what the limits
 * refused is counted there); other paths stay 404.
 * --tls-cert PEM --tls-key PEM [--tls-ca PEM] serve https/wss instead (the
 * line then says "https://"). */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sioc.h"

/* Defined by socketio.c when the Socket.IO layer is built in. */
int protocol_server_socketio(sio_http_server *http, const sio_server_options *limits)
    __attribute__((weak));

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

/* What the command line asked for. */
typedef struct cli {
    int port;                  /* 0..65535 */
    sio_http_options http;     /* defaults, then the timeout/connection options */
    size_t max_outbound_bytes; /* 0: the Engine.IO default */
    uint32_t ping_interval;    /* /engine.io/ heartbeat, 300 ms unless asked */
    uint32_t ping_timeout;     /* 200 ms unless asked */
    sio_server_options limits; /* the abuse limits (library defaults unless asked) */
    int metrics;               /* --metrics */
} cli;

/* Parses a whole decimal number in [0, max] into *out; 0 on success. */
static int parse_num(const char *p, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (p == NULL || *p < '0' || *p > '9')
        return -1;
    unsigned long long v = strtoull(p, &end, 10);
    if (*end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

/* If arg is "--name" (value in the next argument) or "--name=value", returns
 * the value and advances *i past it; NULL otherwise. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

/* Applies one abuse-limit option (known to be one) to c. */
static void apply_limit(cli *c, const char *name, unsigned long long v)
{
    if (strcmp(name, "--max-connections-per-address") == 0)
        c->http.max_connections_per_address = (size_t)v;
    else if (strcmp(name, "--handshake-rate") == 0)
        c->limits.eio.handshake_rate = (uint32_t)v;
    else if (strcmp(name, "--handshake-burst") == 0)
        c->limits.eio.handshake_burst = (uint32_t)v;
    else if (strcmp(name, "--max-dynamic-namespaces") == 0)
        c->limits.max_dynamic_namespaces = (size_t)v;
    else if (strcmp(name, "--max-rooms-per-socket") == 0)
        c->limits.max_rooms_per_socket = (size_t)v;
    else
        c->limits.max_rooms = (size_t)v;
}

/* Applies one numeric option to c: 0, or -1 for a bad value. */
static int apply_num(cli *c, const char *name, const char *val)
{
    int big = strncmp(name, "--max-", 6) == 0;
    unsigned long long v;
    if (parse_num(val, big ? SIZE_MAX : UINT32_MAX, &v) < 0)
        return -1;
    if ((strcmp(name, "--port") == 0 && v > 65535) || (strncmp(name, "--ping-", 7) == 0 && v == 0))
        return -1;
    if (strcmp(name, "--port") == 0)
        c->port = (int)v;
    else if (strcmp(name, "--headers-timeout") == 0)
        c->http.headers_timeout = (uint32_t)v;
    else if (strcmp(name, "--request-timeout") == 0)
        c->http.request_timeout = (uint32_t)v;
    else if (strcmp(name, "--keep-alive-timeout") == 0)
        c->http.keep_alive_timeout = (uint32_t)v;
    else if (strcmp(name, "--ping-interval") == 0)
        c->ping_interval = (uint32_t)v;
    else if (strcmp(name, "--ping-timeout") == 0)
        c->ping_timeout = (uint32_t)v;
    else if (strcmp(name, "--max-connections") == 0)
        c->http.max_connections = (size_t)v;
    else if (strcmp(name, "--max-outbound-bytes") == 0)
        c->max_outbound_bytes = (size_t)v;
    else
        apply_limit(c, name, v);
    return 0;
}

/* Fills c from $PORT and argv; 0, or -1 after printing the usage. */
static int parse_cli(cli *c, int argc, char **argv)
{
    static const char *const names[] = {"--port",
                                        "--headers-timeout",
                                        "--request-timeout",
                                        "--keep-alive-timeout",
                                        "--max-connections",
                                        "--max-outbound-bytes",
                                        "--ping-interval",
                                        "--ping-timeout",
                                        "--max-connections-per-address",
                                        "--handshake-rate",
                                        "--handshake-burst",
                                        "--max-dynamic-namespaces",
                                        "--max-rooms-per-socket",
                                        "--max-rooms"};
    const char *env = getenv("PORT");
    c->port = 3000;
    sio_http_options_init(&c->http);
    c->max_outbound_bytes = 0;
    c->ping_interval = 300;
    c->ping_timeout = 200;
    sio_server_options_init(&c->limits);
    if (env && apply_num(c, "--port", env) < 0)
        goto usage;
    for (int i = 1; i < argc; i++) {
        size_t k = 0;
        const char *val = NULL;
        if (strcmp(argv[i], "--metrics") == 0) {
            c->metrics = 1;
            continue;
        }
        if ((val = opt_value(argc, argv, &i, "--tls-cert")) != NULL) {
            c->http.tls.cert_file = val;
            continue;
        }
        if ((val = opt_value(argc, argv, &i, "--tls-key")) != NULL) {
            c->http.tls.key_file = val;
            continue;
        }
        if ((val = opt_value(argc, argv, &i, "--tls-ca")) != NULL) {
            c->http.tls.ca_file = val;
            continue;
        }
        for (; k < sizeof names / sizeof *names; k++)
            if ((val = opt_value(argc, argv, &i, names[k])) != NULL)
                break;
        if (val == NULL || apply_num(c, names[k], val) < 0)
            goto usage;
    }
    return 0;
usage:
    fprintf(stderr,
            "usage: %s [--port N] [--headers-timeout MS] [--request-timeout MS]\n"
            "          [--keep-alive-timeout MS] [--max-connections N] [--max-outbound-bytes N]\n"
            "          [--ping-interval MS] [--ping-timeout MS]\n"
            "          [--max-connections-per-address N] [--handshake-rate N]\n"
            "          [--handshake-burst N] [--max-dynamic-namespaces N]\n"
            "          [--max-rooms-per-socket N] [--max-rooms N] [--metrics]\n"
            "          [--tls-cert PEM --tls-key PEM [--tls-ca PEM]]\n",
            argv[0]);
    return -1;
}

static int setup_engine(sio_http_server *http, const cli *c)
{
    sio_eio_options o;
    sio_eio_options_init(&o);
    o.path = "/engine.io";
    o.ping_interval = c->ping_interval;
    o.ping_timeout = c->ping_timeout;
    o.max_http_buffer_size = 1000000;
    o.cors.any_origin = 1;
    o.cors.credentials = 1;
    if (c->max_outbound_bytes)
        o.max_outbound_bytes = c->max_outbound_bytes;
    o.handshake_rate = c->limits.eio.handshake_rate;
    o.handshake_burst = c->limits.eio.handshake_burst;
    static const sio_eio_callbacks cb = {NULL, echo, NULL, NULL};
    sio_eio_server *eio;
    return sio_eio_server_new(&eio, http, &o, &cb, NULL);
}

/* --metrics: GET /metrics is the library's counters (Prometheus text, a
 * few KiB: a fixed buffer is plenty for a test server). */
static void on_request(sio_req *req, void *data)
{
    static char body[32768];
    if (strcmp(sio_req_path(req), "/metrics") != 0 || strcmp(sio_req_method(req), "GET") != 0) {
        sio_req_respond(req, 404, "Content-Type: text/plain\r\n", "Not Found", 9);
        return;
    }
    sio_metrics m;
    sio_metrics_get(&m);
    size_t n = sio_metrics_format(&m, body, sizeof body);
    if (n >= sizeof body)
        sio_req_respond(req, 500, NULL, "", 0);
    else
        sio_req_respond(req, 200, "Content-Type: text/plain; version=0.0.4\r\n", body, n);
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
    cli c;
    if (parse_cli(&c, argc, argv) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    sio_loop *loop;
    sio_http_server *http;
    int rc = sio_loop_new(&loop);
    rc = rc ? rc : sio_http_server_new(&http, loop, &c.http);
    rc = rc ? rc : setup_engine(http, &c);
    if (rc == 0 && protocol_server_socketio)
        rc = protocol_server_socketio(http, &c.limits);
    if (rc == 0 && c.metrics)
        sio_http_server_on_request(http, on_request, NULL);
    rc = rc ? rc : listen_any(http, c.port);
    if (rc < 0) {
        fprintf(stderr, "sioc-protocol-server: %s\n", sio_strerror(rc));
        return 1;
    }
    sio_loop_on_signal(loop, SIGINT, on_signal, &http);
    sio_loop_on_signal(loop, SIGTERM, on_signal, &http);
    printf("listening on %s://localhost:%d\n", c.http.tls.cert_file ? "https" : "http",
           sio_http_server_port(http));
    fflush(stdout);
    rc = sio_loop_run(loop);
    sio_loop_free(loop);
    return rc < 0 ? 1 : 0;
}
