/* Random bytes: see random.h. getrandom(2) may return fewer bytes than
 * asked (only above 256 bytes, or when a signal interrupts it), so it is
 * called until the buffer is full; any other failure (ENOSYS in an old
 * sandbox, EAGAIN never happens without GRND_NONBLOCK) falls back to
 * OpenSSL for the whole buffer. */
#include "core/random.h"

#include <errno.h>
#include <sys/random.h>

#include <openssl/rand.h>

#include "core/error.h"

/* Fills out from the kernel; 0, or -1 if it refused. */
static int kernel_random(unsigned char *out, size_t len)
{
    while (len > 0) {
        ssize_t n = getrandom(out, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        out += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The replacement source of sio__random_set_source, or NULL. */
static int (*random_source)(void *out, size_t len);

void sio__random_set_source(int (*fn)(void *out, size_t len))
{
    random_source = fn;
}

int sio__random_bytes(void *out, size_t len)
{
    if (random_source != NULL)
        return random_source(out, len);
    if (kernel_random(out, len) == 0)
        return 0;
    if (len > 0x7fffffff || RAND_bytes(out, (int)len) != 1)
        return SIO_EIO;
    return 0;
}
