/* The composition root of the admin UI instrumentation: sio_admin_instrument
 * hands the sans-I/O core (socketio/admin.c) what it needs from the system:
 * bcrypt checks on the loop's thread pool (libcrypt's crypt_rn, which knows
 * $2a$, $2b$ and $2y$: a check costs ~50 ms at 10 rounds, far too long for
 * the loop thread), the host name, the process id and the process's
 * uptime. */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "net/net.h"
#include "socketio/admin.h"

/* The monotonic time the library was loaded at, which for a program linked
 * with it is its start: what Node's process.uptime() counts from. */
static struct timespec loaded_at;

__attribute__((constructor)) static void note_load_time(void)
{
    clock_gettime(CLOCK_MONOTONIC, &loaded_at);
}

static double uptime(void *ctx)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - loaded_at.tv_sec) + (now.tv_nsec - loaded_at.tv_nsec) / 1e9;
}

/* One bcrypt check on a pool thread. */
typedef struct verify_work {
    char *hash;
    char *password;
    int ok;
    void (*done)(int ok, void *arg);
    void *arg;
} verify_work;

/* Compares without stopping at the first difference. */
static int same(const char *a, const char *b)
{
    size_t n = strlen(a);
    unsigned char d = n != strlen(b);
    for (size_t i = 0; i < n && b[i]; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static void verify_run(void *data)
{
    verify_work *w = data;
    struct crypt_data *cd = sio__raw_calloc(1, sizeof *cd); /* 32 KiB: not on the stack */
    const char *h = cd ? crypt_rn(w->password, w->hash, cd, (int)sizeof *cd) : NULL;
    w->ok = h != NULL && h[0] == '$' && same(h, w->hash);
    sio__raw_free(cd);
}

static void verify_after(int status, void *data)
{
    verify_work *w = data;
    w->done(status == 0 && w->ok, w->arg);
    sio__free(w->hash);
    sio__free(w->password);
    sio__free(w);
}

static int verify(void *ctx, const char *hash, const char *password,
                  void (*done)(int ok, void *arg), void *arg)
{
    verify_work *w = sio__calloc(1, sizeof *w);
    if (w == NULL)
        return SIO_ENOMEM;
    w->hash = sio__strdup(hash);
    w->password = sio__strdup(password);
    w->done = done;
    w->arg = arg;
    int rc = w->hash && w->password ? sio_loop_work(ctx, verify_run, verify_after, w) : SIO_ENOMEM;
    if (rc < 0) {
        sio__free(w->hash);
        sio__free(w->password);
        sio__free(w);
    }
    return rc;
}

void sio_admin_options_init(sio_admin_options *o)
{
    const char *env = getenv("NODE_ENV");
    memset(o, 0, sizeof *o);
    o->namespace_name = "/admin";
    o->mode = env != NULL && env[0] != '\0' ? env : "development";
    o->stats_interval = 2000;
}

int sio_admin_instrument(sio_server *srv, const sio_admin_options *opts)
{
    if (srv == NULL || opts == NULL || srv->http == NULL)
        return SIO_EINVAL;
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    sio__admin_env env = {verify, uptime, host, (long)getpid(), srv->http->loop};
    return sio__admin_new(srv, opts, &env);
}

int sio_admin_options_login(sio_admin_options *o, const char *login, char *buf, size_t cap)
{
    const char *colon = login ? strchr(login, ':') : NULL;
    if (colon == NULL || colon == login || cap < strlen(login) + 64)
        return SIO_EINVAL;
    size_t ulen = (size_t)(colon - login);
    const char *pw = colon + 1;
    memcpy(buf, login, ulen);
    buf[ulen] = '\0';
    char *hash = buf + ulen + 1;
    size_t hcap = cap - ulen - 1;
    int rc = 0;
    if (sio__admin_is_bcrypt(pw))
        memcpy(hash, pw, strlen(pw) + 1);
    else
        rc = sio_admin_hash_password(pw, 10, hash, hcap);
    if (rc < 0)
        return rc;
    o->username = buf;
    o->password = hash;
    return 0;
}

int sio_admin_hash_password(const char *password, unsigned rounds, char *out, size_t cap)
{
    if (password == NULL || out == NULL || rounds < 4 || rounds > 31 || cap < 61)
        return SIO_EINVAL;
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (crypt_gensalt_rn("$2b$", rounds, NULL, 0, salt, (int)sizeof salt) == NULL)
        return SIO_EIO;
    struct crypt_data *cd = sio__calloc(1, sizeof *cd);
    if (cd == NULL)
        return SIO_ENOMEM;
    const char *h = crypt_rn(password, salt, cd, (int)sizeof *cd);
    int rc = h != NULL && h[0] == '$' && strlen(h) < cap ? 0 : SIO_EIO;
    if (rc == 0)
        memcpy(out, h, strlen(h) + 1);
    sio__free(cd);
    return rc;
}
