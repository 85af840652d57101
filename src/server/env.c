/* The cores' environment: see env.h. The map seed is drawn once per
 * process (pthread_once: servers may be made on several loops, in several
 * threads), and every map keeps that key for its life. */
#include "server/env.h"

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "core/map.h"
#include "core/random.h"
#include "net/net.h"

static int env_random(void *arg, void *out, size_t len)
{
    (void)arg;
    return sio__random_bytes(out, len);
}

/* Keys the maps. Never fails: without random bytes (no kernel entropy and
 * a broken OpenSSL) the clock and two addresses are mixed in, which still
 * differs per process. */
static void seed_maps(void)
{
    uint64_t seed[2];
    if (sio__random_bytes(seed, sizeof seed) < 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)&ts;
        seed[1] = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&seed_maps;
    }
    sio__map_seed(seed);
}

void sio__server_env(sio_loop *loop, sio__env *env)
{
    static pthread_once_t seeded = PTHREAD_ONCE_INIT;
    pthread_once(&seeded, seed_maps);
    *env = (sio__env){sio__loop_timers(loop), sio__loop_clock, sio__loop_wall_ms, env_random, loop,
                      sio__loop_tick};
}
