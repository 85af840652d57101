/* sioc-bench command line: `sioc-bench <scenario> [--option value]...`.
 *
 * Scenarios: connect, broadcast, chat, replay (see scenarios.c); with
 * --url2 the connections alternate between two servers (a cluster). Each
 * prints one JSON line on stdout; diagnostics go to stderr. The exit
 * status is 0 when the scenario ran and every connection behaved, 1 when
 * it ran with failures, 2 on a usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* One --option: its name, and where and how to store its value. */
typedef struct opt_def {
    const char *name; /* without the leading dashes */
    char kind;        /* u: uint32, d: double, i: int, s: string, U: uint64 */
    size_t off;       /* offset of the field in bench_opts */
} opt_def;

#define OPT(name, kind, field)                                                                     \
    {                                                                                              \
        name, kind, offsetof(bench_opts, field)                                                    \
    }
static const opt_def defs[] = {
    OPT("url", 's', url),
    OPT("url2", 's', url2),
    OPT("pid", 'i', pid),
    OPT("pid2", 'i', pid2),
    OPT("redis-pid", 'i', redis_pid),
    OPT("one-way", 'i', one_way),
    OPT("n", 'u', n),
    OPT("senders", 'u', senders),
    OPT("rate", 'd', rate),
    OPT("duration", 'd', duration),
    OPT("warmup", 'd', warmup),
    OPT("idle", 'd', idle),
    OPT("rows", 'u', rows),
    OPT("fill", 'i', fill),
    OPT("offset", 'U', offset),
    OPT("sources", 'i', sources),
    OPT("concurrency", 'u', concurrency),
    OPT("window", 'u', window),
    OPT("timeout", 'd', timeout),
    OPT("label", 's', label),
};

/* Prints the option list. */
static void usage(FILE *f)
{
    fputs("usage: sioc-bench <connect|broadcast|chat|replay> [options]\n"
          "  --url http://127.0.0.1:PORT  target (loopback only)\n"
          "  --url2 URL         a second server (a cluster node): odd connections\n"
          "                     go there, even ones to --url\n"
          "  --pid PID          server process, for RSS and CPU from /proc\n"
          "  --pid2 PID         the second server's process (CPU of both summed)\n"
          "  --redis-pid PID    broadcast: the cluster's redis-server, for its CPU\n"
          "  --one-way 0|1      broadcast with --url2: senders on --url only\n"
          "  --n N              connections (default 1000)\n"
          "  --senders K        connections that also send (default 1)\n"
          "  --rate R           broadcast: deliveries/s offered, 0 = closed loop\n"
          "  --duration S       measured seconds (default 5)\n"
          "  --warmup S         seconds before measuring (default 1)\n"
          "  --idle S           connect: settle before reading RSS (default 2)\n"
          "  --rows H           replay: history rows (default 1000)\n"
          "  --fill 0|1         replay: store the rows first (default 1)\n"
          "  --offset X         replay with --fill 0: serverOffset to present\n"
          "  --sources N        source addresses 127.0.0.1..N (default 8)\n"
          "  --concurrency C    connects in flight (default 256)\n"
          "  --window W         replay: unacked fill messages (default 64)\n"
          "  --timeout S        bound on each phase (default 60)\n"
          "  --label TEXT       copied into the JSON line\n",
          f);
}

/* Stores one option value; -1 if the value does not parse. */
static int set_opt(bench_opts *o, const opt_def *d, const char *v)
{
    char *end = NULL;
    void *field = (char *)o + d->off;
    switch (d->kind) {
    case 's':
        *(const char **)field = v;
        return 0;
    case 'd':
        *(double *)field = strtod(v, &end);
        return *end == '\0' && *(double *)field >= 0 ? 0 : -1;
    case 'i':
        *(int *)field = (int)strtol(v, &end, 10);
        return *end == '\0' ? 0 : -1;
    case 'u': {
        unsigned long x = strtoul(v, &end, 10);
        *(uint32_t *)field = (uint32_t)x;
        return *end == '\0' && x <= UINT32_MAX ? 0 : -1;
    }
    default:
        *(uint64_t *)field = strtoull(v, &end, 10);
        return *end == '\0' ? 0 : -1;
    }
}

/* Parses argv[2..]; -1 on an unknown option or bad value. */
static int parse_opts(int argc, char **argv, bench_opts *o)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr, "sioc-bench: bad argument %s\n", a);
            return -1;
        }
        const opt_def *d = NULL;
        for (size_t k = 0; k < sizeof defs / sizeof defs[0]; k++)
            if (strcmp(a + 2, defs[k].name) == 0)
                d = &defs[k];
        if (!d || set_opt(o, d, argv[++i]) < 0) {
            fprintf(stderr, "sioc-bench: bad option %s\n", a);
            return -1;
        }
    }
    if (o->n == 0 || o->senders == 0 || o->duration <= 0 || o->timeout <= 0) {
        fprintf(stderr, "sioc-bench: --n, --senders, --duration, --timeout must be > 0\n");
        return -1;
    }
    return 0;
}

/* Parses the command line, raises the file limit, runs one scenario. */
int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    bench_opts o;
    bench_opts_init(&o);
    if (parse_opts(argc, argv, &o) < 0)
        return 2;
    long nofile = bench_raise_nofile();
    if (nofile > 0 && (long)o.n + 64 > nofile)
        fprintf(stderr, "sioc-bench: warning: %u connections but only %ld files\n", o.n, nofile);
    int rc;
    if (strcmp(argv[1], "connect") == 0)
        rc = bench_connect(&o);
    else if (strcmp(argv[1], "broadcast") == 0)
        rc = bench_broadcast(&o);
    else if (strcmp(argv[1], "chat") == 0)
        rc = bench_chat(&o);
    else if (strcmp(argv[1], "replay") == 0)
        rc = bench_replay(&o);
    else {
        usage(stderr);
        return 2;
    }
    if (rc < 0) {
        fprintf(stderr, "sioc-bench: cannot start (bad --url? only loopback is allowed)\n");
        return 2;
    }
    return rc;
}
