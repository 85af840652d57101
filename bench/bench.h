/* sioc-bench: a Socket.IO v5 / Engine.IO v4 load generator over WebSocket.
 *
 * Design: one process, one libuv loop, thousands of client connections that
 * each cost a few hundred bytes (the libuv handle plus three empty buffers;
 * reads land in one shared buffer and only a partial frame is copied into
 * the connection). Every send is appended to the connection's output buffer
 * and the connection is put on a dirty list; a uv_prepare handle flushes all
 * dirty connections once per loop iteration, right before the loop polls, so
 * many sends in one iteration become one write(2).
 *
 * The client speaks just enough of the protocols to drive a server:
 * WebSocket client framing (masked frames, ping -> pong, close), Engine.IO
 * open/ping/pong/message, Socket.IO CONNECT with an auth object, EVENT and
 * ACK. Events and acks are handed to the running scenario through hooks as
 * raw JSON slices; scenarios parse only what they need.
 *
 * WebSocket frames are the library's frame codec (src/ws/ws_frame.h): the
 * same header layout and masking as the server's framer, used here in the
 * client role (masked frames out, unmasked in).
 *
 * Modules: conn.c (connections and the loop), stats.c (latency histograms, /proc readers),
 * scenarios.c (connect, broadcast, chat, replay), main.c (command line).
 * Only loopback targets are accepted (url_parse refuses anything else), and
 * every wait is bounded by a deadline. */
#ifndef SIOC_BENCH_H
#define SIOC_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"

/* --------------------------------------------------------------- stats.c */

#define BENCH_HIST_BUCKETS 4608

/* A log-linear histogram of microsecond values: exact below 256, then 128
 * buckets per power of two (under 1% error), up to 2^40 us; fixed size so
 * recording never allocates. */
typedef struct bench_hist {
    uint64_t count;                       /* values recorded */
    uint64_t max;                         /* largest value recorded */
    uint64_t buckets[BENCH_HIST_BUCKETS]; /* counts per bucket */
} bench_hist;

void bench_hist_record(bench_hist *h, uint64_t us);
/* The value at quantile q (0..1), in us; 0 for an empty histogram. */
double bench_hist_quantile(const bench_hist *h, double q);

/* Reads "<key>: N kB" from /proc/<pid>/status (VmRSS, VmHWM); -1 if absent. */
long bench_proc_status_kb(int pid, const char *key);
/* utime+stime of /proc/<pid>/stat in microseconds; -1 if unreadable. */
long long bench_proc_cpu_us(int pid);
/* Time on CPU of every thread of pid (the first field of each
 * /proc/<pid>/task/<tid>/schedstat, nanoseconds) in microseconds; -1 if
 * unreadable. Unlike utime+stime (10 ms ticks) it resolves the little CPU
 * that redis-server spends in a few seconds. */
long long bench_proc_runtime_us(int pid);
/* This process's user+system CPU time in microseconds. */
long long bench_self_cpu_us(void);

/* ---------------------------------------------------------------- conn.c */

/* Connection states, in the order a connection goes through them. */
enum bench_state {
    BENCH_IDLE,        /* not started */
    BENCH_TCP,         /* TCP connect in flight */
    BENCH_HTTP,        /* upgrade request sent, waiting for 101 */
    BENCH_EIO_OPEN,    /* WebSocket up, waiting for the Engine.IO open packet */
    BENCH_SIO_CONNECT, /* Socket.IO CONNECT sent, waiting for its answer */
    BENCH_READY,       /* connected to the main namespace */
    BENCH_CLOSING,     /* uv_close called */
    BENCH_CLOSED       /* close callback ran */
};

typedef struct bench_conn {
    uv_tcp_t tcp;        /* the socket; tcp.data points back here */
    sio__buf in;         /* partial frame carried over between reads */
    sio__buf out;        /* bytes queued since the last flush */
    uint64_t t_start_us; /* when the connect began (handshake latency) */
    uint32_t index;      /* position in bench_ctx.conns */
    uint32_t rng;        /* xorshift state for mask keys */
    uint8_t state;       /* enum bench_state */
    uint8_t writing;     /* a uv_write is in flight */
    uint8_t dirty;       /* on the dirty list */
    uint8_t ours;        /* the bench closed it (not counted as dropped) */
    uint64_t user;       /* scenario scratch: a counter or sequence number */
    uint64_t user2;      /* second scenario scratch value */
} bench_conn;

/* What the running scenario wants to hear about; any hook may be NULL. */
typedef struct bench_hooks {
    void (*on_ready)(bench_conn *c);
    /* json is the EVENT's array, e.g. ["chat message","hi",12,"x"]. */
    void (*on_event)(bench_conn *c, const char *json, size_t len);
    void (*on_ack)(bench_conn *c, uint64_t id, const char *json, size_t len);
    void (*on_close)(bench_conn *c);
} bench_hooks;

/* The process-wide state: one bench runs per process. */
typedef struct bench_ctx {
    uv_loop_t *loop;            /* the default loop */
    struct sockaddr_in target;  /* loopback server address */
    struct sockaddr_in target2; /* second server (a cluster's other node) */
    int ntargets;               /* 1, or 2: odd connections go to target2 */
    int nsources;               /* source addresses 127.0.0.1..127.0.0.N */
    char auth[256];             /* Socket.IO CONNECT auth JSON */
    bench_hooks hooks;          /* scenario callbacks */
    bench_conn **conns;         /* every connection, by index */
    uint32_t nconns;            /* length of conns */
    uint32_t next_start;        /* next index bench_open will start */
    uint32_t open_upto;         /* bench_open's target: start indexes below it */
    int closing_all;            /* bench_close_all running: closes are ours */
    uint32_t inflight;          /* connects started, not yet ready or failed */
    uint32_t concurrency;       /* cap on inflight */
    uint32_t nready;            /* connections that reached BENCH_READY */
    uint32_t nfailed;           /* connections closed before BENCH_READY */
    uint32_t nclosed;           /* close callbacks run */
    uint32_t ndropped;          /* ready connections the server closed */
    bench_conn **dirty;         /* connections with unflushed output */
    uint32_t ndirty;            /* length of dirty */
    uv_prepare_t flusher;       /* flushes dirty connections per iteration */
    bench_hist handshake;       /* connect start -> Socket.IO CONNECT ack, us */
    uint64_t t0_ns;             /* uv_hrtime at init: the us clock's zero */
    char last_error[128];       /* first connection error seen, for the report */
} bench_ctx;

extern bench_ctx bench;

/* Parses url (http:// or ws://, loopback host only), sets up the loop and
 * the connection table for n connections. With url2 (NULL for none) the
 * connections alternate between the two servers: even indexes on url, odd
 * ones on url2, so any prefix of them is split half and half. SIO_EINVAL on
 * a bad or non-loopback URL, SIO_ENOMEM. */
int bench_init(const char *url, const char *url2, uint32_t n, int nsources, uint32_t concurrency);
/* Which server connection number index talks to: 0 (url) or 1 (url2). */
int bench_server_of(uint32_t index);
/* Microseconds since bench_init on the monotonic clock. */
uint64_t bench_now_us(void);
/* Starts connections up to index `upto` (exclusive), at most `concurrency`
 * at a time; the rest start as earlier ones finish connecting. */
void bench_open(uint32_t upto);
/* Queues one Engine.IO packet (text) on c; flushed before the next poll. */
int bench_send(bench_conn *c, const char *text, size_t len);
/* Closes c on purpose (not counted as a drop). */
void bench_conn_close(bench_conn *c);
/* Runs the loop until done(arg) is true or timeout_ms pass; returns 1 if
 * done, 0 on timeout. done is checked every few milliseconds. */
int bench_run(int (*done)(void *arg), void *arg, uint64_t timeout_ms);
/* Closes every connection and waits (bounded) for the close callbacks. */
void bench_close_all(void);
/* Raises RLIMIT_NOFILE to its hard limit; returns the new soft limit. */
long bench_raise_nofile(void);

/* ----------------------------------------------------------- scenarios.c */

/* Options shared by the scenarios, with defaults from bench_opts_init. */
typedef struct bench_opts {
    const char *url;      /* --url: target server */
    const char *url2;     /* --url2: a second server (cluster), or NULL */
    int pid;              /* --pid: server process for /proc figures (0 none) */
    int pid2;             /* --pid2: the second server's process (0 none) */
    int redis_pid;        /* --redis-pid: the cluster's redis-server (0 none) */
    int one_way;          /* --one-way: senders on the first server only */
    uint32_t n;           /* --n: connections */
    uint32_t senders;     /* --senders: connections that also send */
    double rate;          /* --rate: deliveries/s offered (0 closed loop) */
    double duration;      /* --duration: measured seconds */
    double warmup;        /* --warmup: seconds before measuring */
    double idle;          /* --idle: seconds to settle before reading RSS */
    uint32_t rows;        /* --rows: history rows to replay */
    int fill;             /* --fill: send the rows first (1) or not (0) */
    uint64_t offset;      /* --offset: serverOffset when not filling */
    int sources;          /* --sources: source addresses */
    uint32_t concurrency; /* --concurrency: connects in flight */
    uint32_t window;      /* --window: messages in flight per sender */
    double timeout;       /* --timeout: bound on any one phase, seconds */
    const char *label;    /* --label: copied into the JSON line */
} bench_opts;

/* Fills o with the defaults listed by `sioc-bench --help`. */
void bench_opts_init(bench_opts *o);
/* Each scenario runs once and prints its JSON line. They return 0 when
 * every connection behaved, 1 when the run had failures (the JSON line says
 * which), a negative SIO_E* code when it could not start (bad URL, memory). */
int bench_connect(const bench_opts *o);
int bench_broadcast(const bench_opts *o);
int bench_chat(const bench_opts *o);
int bench_replay(const bench_opts *o);

#endif
