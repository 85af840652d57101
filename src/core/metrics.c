/* Metrics: see metrics.h. sio__metrics is the process's totals. */
#include "core/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

sio_metrics sio__metrics;

void sio_metrics_get(sio_metrics *out)
{
    *out = sio__metrics;
}

/* sio_metrics is uint64_t fields and arrays of them only (sioc.h), so it
 * adds as an array. */
void sio__metrics_sum(sio_metrics *sum, const sio_metrics *add)
{
    _Static_assert(sizeof(sio_metrics) % sizeof(uint64_t) == 0, "sio_metrics: uint64_t only");
    uint64_t v[sizeof(sio_metrics) / sizeof(uint64_t)], w[sizeof v / sizeof *v];
    memcpy(v, sum, sizeof v);
    memcpy(w, add, sizeof w);
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        v[i] += w[i];
    memcpy(sum, v, sizeof v);
}

/* Appends to out (cap bytes) at *len, counting what does not fit. */
static void put(char *out, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *out, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(*len < cap ? out + *len : NULL, *len < cap ? cap - *len : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n;
}

/* One metric family: HELP and TYPE lines. */
static void family(char *out, size_t cap, size_t *len, const char *name, const char *type,
                   const char *help)
{
    put(out, cap, len, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The abuse limits' refusals, one series per limit (named as its option). */
static void limits(const sio_metrics *m, char *out, size_t cap, size_t *n)
{
    const struct {
        const char *limit;
        uint64_t value;
    } v[] = {
        {"max_connections_per_address", m->refused_connections_per_address},
        {"handshake_rate", m->refused_handshake_rate},
        {"max_dynamic_namespaces", m->refused_dynamic_namespaces},
        {"max_rooms_per_socket", m->refused_rooms_per_socket},
        {"max_rooms", m->refused_rooms},
    };
    family(out, cap, n, "sioc_limit_refusals_total", "counter",
           "Connections, handshakes, namespace connects and joins refused by an abuse limit.");
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        put(out, cap, n, "sioc_limit_refusals_total{limit=\"%s\"} %" PRIu64 "\n", v[i].limit,
            v[i].value);
}

size_t sio_metrics_format(const sio_metrics *m, char *out, size_t cap)
{
    size_t n = 0;
    family(out, cap, &n, "sioc_handshakes_total", "counter", "Engine.IO sessions opened.");
    put(out, cap, &n, "sioc_handshakes_total{transport=\"polling\"} %" PRIu64 "\n",
        m->handshakes_polling);
    put(out, cap, &n, "sioc_handshakes_total{transport=\"websocket\"} %" PRIu64 "\n",
        m->handshakes_websocket);
    family(out, cap, &n, "sioc_upgrades_total", "counter", "Sessions upgraded to WebSocket.");
    put(out, cap, &n, "sioc_upgrades_total %" PRIu64 "\n", m->upgrades);
    family(out, cap, &n, "sioc_sessions", "gauge", "Open Engine.IO sessions.");
    put(out, cap, &n, "sioc_sessions{transport=\"polling\"} %" PRIu64 "\n", m->sessions_polling);
    put(out, cap, &n, "sioc_sessions{transport=\"websocket\"} %" PRIu64 "\n",
        m->sessions_websocket);
    family(out, cap, &n, "sioc_rejected_handshakes_total", "counter",
           "Requests refused by Engine.IO, by error code.");
    for (int i = 0; i < 6; i++)
        put(out, cap, &n, "sioc_rejected_handshakes_total{code=\"%d\"} %" PRIu64 "\n", i,
            m->rejected_handshakes[i]);
    family(out, cap, &n, "sioc_rejected_connections_total", "counter",
           "Connections closed at accept (max_connections).");
    put(out, cap, &n, "sioc_rejected_connections_total %" PRIu64 "\n", m->rejected_connections);
    family(out, cap, &n, "sioc_connects_total", "counter", "Sockets connected to a namespace.");
    put(out, cap, &n, "sioc_connects_total %" PRIu64 "\n", m->connects);
    family(out, cap, &n, "sioc_disconnects_total", "counter", "Sockets disconnected.");
    put(out, cap, &n, "sioc_disconnects_total %" PRIu64 "\n", m->disconnects);
    family(out, cap, &n, "sioc_sockets", "gauge", "Connected sockets, all namespaces.");
    put(out, cap, &n, "sioc_sockets %" PRIu64 "\n", m->sockets);
    family(out, cap, &n, "sioc_rejected_connects_total", "counter",
           "Sockets refused by a middleware.");
    put(out, cap, &n, "sioc_rejected_connects_total %" PRIu64 "\n", m->rejected_connects);
    family(out, cap, &n, "sioc_packets_total", "counter", "Socket.IO packets.");
    put(out, cap, &n, "sioc_packets_total{direction=\"in\"} %" PRIu64 "\n", m->packets_in);
    put(out, cap, &n, "sioc_packets_total{direction=\"out\"} %" PRIu64 "\n", m->packets_out);
    family(out, cap, &n, "sioc_bytes_total", "counter", "Bytes read and written.");
    put(out, cap, &n, "sioc_bytes_total{direction=\"in\"} %" PRIu64 "\n", m->bytes_in);
    put(out, cap, &n, "sioc_bytes_total{direction=\"out\"} %" PRIu64 "\n", m->bytes_out);
    family(out, cap, &n, "sioc_broadcasts_total", "counter", "Broadcast emits.");
    put(out, cap, &n, "sioc_broadcasts_total %" PRIu64 "\n", m->broadcasts);
    family(out, cap, &n, "sioc_acks_total", "counter", "Client acks of emits with ack.");
    put(out, cap, &n, "sioc_acks_total %" PRIu64 "\n", m->acks_in);
    family(out, cap, &n, "sioc_ack_timeouts_total", "counter", "Emits with ack that timed out.");
    put(out, cap, &n, "sioc_ack_timeouts_total %" PRIu64 "\n", m->ack_timeouts);
    family(out, cap, &n, "sioc_recovery_total", "counter", "Connection state recovery attempts.");
    put(out, cap, &n, "sioc_recovery_total{result=\"hit\"} %" PRIu64 "\n", m->recovery_hits);
    put(out, cap, &n, "sioc_recovery_total{result=\"miss\"} %" PRIu64 "\n", m->recovery_misses);
    family(out, cap, &n, "sioc_write_queue_bytes", "gauge", "Output queued, not yet written.");
    put(out, cap, &n, "sioc_write_queue_bytes %" PRIu64 "\n", m->write_queue_bytes);
    limits(m, out, cap, &n);
    return n;
}
