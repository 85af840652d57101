/* Token bucket: see bucket.h and sioc.h. */
#include "core/bucket.h"

static uint64_t capacity(uint32_t burst)
{
    return (uint64_t)(burst > SIO_BUCKET_MAX_BURST ? SIO_BUCKET_MAX_BURST : burst) * 1000u;
}

/* The level b would have at now. */
static uint64_t level_at(const sio_bucket *b, uint32_t rate, uint32_t burst, uint64_t now)
{
    uint64_t cap = capacity(burst);
    uint64_t add = (uint64_t)(uint32_t)((uint32_t)now - b->last) * rate;
    uint64_t level = (uint64_t)b->level + add;
    return level > cap ? cap : level;
}

void sio_bucket_init(sio_bucket *b, uint32_t burst, uint64_t now)
{
    b->level = (uint32_t)capacity(burst);
    b->last = (uint32_t)now;
}

int sio_bucket_take(sio_bucket *b, uint32_t rate, uint32_t burst, uint64_t now)
{
    uint64_t level = level_at(b, rate, burst, now);
    b->last = (uint32_t)now;
    if (level < 1000) {
        b->level = (uint32_t)level;
        return 0;
    }
    b->level = (uint32_t)(level - 1000);
    return 1;
}

int sio__bucket_full(const sio_bucket *b, uint32_t rate, uint32_t burst, uint64_t now)
{
    return level_at(b, rate, burst, now) >= capacity(burst);
}
