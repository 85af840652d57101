/* Logging: see log.h. The DEBUG syntax is the `debug` package's: names
 * separated by commas or spaces, `*` as a wildcard, a leading `-` to
 * exclude ("sioc:*,-sioc:http"). Only names under "sioc:" (or the plain
 * wildcards "*" and "sioc*") concern the library. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

unsigned sio__log_categories;
int sio__log_level = SIO_LOG_DEBUG;
static sio_log_cb log_cb;
static void *log_data;
static int configured; /* sio_log_set() was called: DEBUG is not read */
/* What stamps stderr lines (see sio__log_set_clock); atomic because loops
 * may be created on several threads while others log. */
static int64_t (*wall_clock)(void);

static const struct {
    unsigned cat;
    const char *name;
} names[] = {
    {SIO_LOG_HTTP, "sioc:http"},     {SIO_LOG_ENGINE, "sioc:engine"},
    {SIO_LOG_SOCKET, "sioc:socket"}, {SIO_LOG_ADAPTER, "sioc:adapter"},
    {SIO_LOG_LOOP, "sioc:loop"},
};

const char *sio__log_category_name(unsigned cat)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].cat == cat)
            return names[i].name;
    return "sioc";
}

/* 1 if pattern (len bytes, '*' = any run) matches name. */
static int glob_match(const char *p, size_t plen, const char *name)
{
    if (plen == 0)
        return *name == '\0';
    if (*p == '*') {
        for (const char *n = name;; n++) {
            if (glob_match(p + 1, plen - 1, n))
                return 1;
            if (*n == '\0')
                return 0;
        }
    }
    return *name == *p && glob_match(p + 1, plen - 1, name + 1);
}

/* The categories one DEBUG element names. */
static unsigned element_categories(const char *p, size_t len)
{
    unsigned cats = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (glob_match(p, len, names[i].name))
            cats |= names[i].cat;
    return cats;
}

unsigned sio_log_parse_debug(const char *spec)
{
    unsigned on = 0, off = 0;
    if (spec == NULL)
        return 0;
    while (*spec) {
        size_t len = strcspn(spec, ", ");
        if (len > 0) {
            if (spec[0] == '-')
                off |= element_categories(spec + 1, len - 1);
            else
                on |= element_categories(spec, len);
        }
        spec += len;
        spec += strspn(spec, ", ");
    }
    return on & ~off;
}

void sio_log_set(unsigned categories, int max_level, sio_log_cb cb, void *data)
{
    configured = 1;
    log_cb = cb;
    log_data = data;
    sio__log_level = max_level;
    sio__log_categories = categories & SIO_LOG_ALL;
}

void sio__log_set_clock(int64_t (*wall_ms)(void))
{
    __atomic_store_n(&wall_clock, wall_ms, __ATOMIC_RELAXED);
}

void sio__log_init_from_env(void)
{
    if (configured)
        return;
    configured = 1;
    sio__log_categories = sio_log_parse_debug(getenv("DEBUG"));
    sio__log_level = SIO_LOG_DEBUG;
}

/* debug's non-TTY format: ISO time, the name, the message. */
static void write_stderr(const char *category, const char *msg)
{
    int64_t (*clock)(void) = __atomic_load_n(&wall_clock, __ATOMIC_RELAXED);
    int64_t ms = clock != NULL ? clock() : 0;
    if (ms < 0)
        ms = 0;
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s\n", tm.tm_year + 1900, tm.tm_mon + 1,
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000), category, msg);
}

void sio__log(unsigned cat, int level, const char *fmt, ...)
{
    char line[SIO_LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    const char *name = sio__log_category_name(cat);
    if (log_cb)
        log_cb(level, name, line, log_data);
    else
        write_stderr(name, line);
}
