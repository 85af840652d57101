/* Measurement helpers for sioc-bench: latency histograms and /proc readers.
 *
 * The histogram is log-linear (the HdrHistogram idea with 7 bits of
 * precision): values below 256 us are exact, larger ones fall into one of
 * 128 buckets per power of two, so quantiles are within 1% and recording
 * is a shift and an increment. Server figures come from /proc: VmRSS/VmHWM
 * in /proc/<pid>/status and utime+stime (clock ticks) in /proc/<pid>/stat;
 * redis-server's CPU, too small for 10 ms ticks, from its threads'
 * schedstat (nanoseconds). */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

/* Bucket index of a value (see the file comment). */
static size_t hist_index(uint64_t v)
{
    if (v < 256)
        return (size_t)v;
    int bits = 64 - __builtin_clzll(v);
    int shift = bits - 8;
    size_t idx = (size_t)shift * 128 + (size_t)(v >> shift);
    return idx < BENCH_HIST_BUCKETS ? idx : BENCH_HIST_BUCKETS - 1;
}

/* The middle of the values a bucket holds. */
static double hist_value(size_t idx)
{
    if (idx < 256)
        return (double)idx;
    int shift = (int)(idx / 128) - 1;
    uint64_t low = (uint64_t)(idx - (size_t)shift * 128) << shift;
    return (double)low + (double)((1ull << shift) - 1) / 2.0;
}

void bench_hist_record(bench_hist *h, uint64_t us)
{
    h->buckets[hist_index(us)]++;
    h->count++;
    if (us > h->max)
        h->max = us;
}

double bench_hist_quantile(const bench_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen > rank) {
            double v = hist_value(i);
            return v > (double)h->max ? (double)h->max : v;
        }
    }
    return (double)h->max;
}

long bench_proc_status_kb(int pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            sscanf(line + klen + 1, "%ld", &kb);
            break;
        }
    }
    fclose(f);
    return kb;
}

long long bench_proc_cpu_us(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: skip to the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* Fields after ')': state(3) ... utime is field 14, stime 15. */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (long long)((ut + st) * 1000000ull / (unsigned long long)(hz > 0 ? hz : 100));
}

long long bench_proc_runtime_us(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    unsigned long long ns = 0;
    int tasks = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char stat[300];
        unsigned long long t = 0;
        snprintf(stat, sizeof stat, "/proc/%d/task/%.32s/schedstat", pid, e->d_name);
        FILE *f = fopen(stat, "r");
        if (f && fscanf(f, "%llu", &t) == 1) {
            ns += t;
            tasks++;
        }
        if (f)
            fclose(f);
    }
    closedir(d);
    return tasks ? (long long)(ns / 1000) : -1;
}

long long bench_self_cpu_us(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
           (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}
