/* sio_set_allocator keeps its promise: a counting allocator sees every
 * allocation of a server's life (create, listen, a real socket.io-client
 * over polling then WebSocket with text, binary and acks, shutdown, free),
 * every block is freed through it, and nothing on the loop thread bypasses
 * it, except inside libc itself (stdio buffers when OpenSSL reads its
 * configuration file): counted, reported and bounded.
 *
 * Bypasses are seen with the sanitizer allocator's hooks (ASan builds): a
 * hook on the loop thread that fires outside the counting allocator is a
 * libc allocation the library did not route. Frames are attributed to libc
 * with backtrace()+dladdr(). Without ASan only the counting part runs. */
#define _GNU_SOURCE /* dladdr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dlfcn.h>
#include <openssl/crypto.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sioc.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN_HOOKS 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN_HOOKS 1
#endif
#ifdef HAVE_ASAN_HOOKS
#include <sanitizer/allocator_interface.h>
#endif

extern char **environ;

/* ------------------------------------------------ the counting allocator */

#define MAGIC 0x5105c0dedULL

typedef struct hdr {
    uint64_t magic;
    size_t size;
} hdr;

static struct {
    size_t allocs, frees, live, peak, foreign_frees;
} count;
static __thread int in_counting; /* our own libc calls are not bypasses */

static void *c_malloc(size_t size)
{
    in_counting++;
    hdr *h = malloc(sizeof *h + size);
    in_counting--;
    if (h == NULL)
        return NULL;
    *h = (hdr){MAGIC, size};
    count.allocs++;
    count.live += size;
    if (count.live > count.peak)
        count.peak = count.live;
    return h + 1;
}

static void c_free(void *p)
{
    if (p == NULL)
        return;
    hdr *h = (hdr *)p - 1;
    if (h->magic != MAGIC) { /* not ours: allocated around the allocator */
        count.foreign_frees++;
        return;
    }
    h->magic = 0;
    count.frees++;
    count.live -= h->size;
    in_counting++;
    free(h);
    in_counting--;
}

static void *c_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = c_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

static void *c_realloc(void *p, size_t size)
{
    if (p == NULL)
        return c_malloc(size);
    hdr *h = (hdr *)p - 1;
    if (h->magic != MAGIC) {
        count.foreign_frees++;
        return NULL;
    }
    void *q = c_malloc(size);
    if (q == NULL)
        return NULL;
    memcpy(q, p, h->size < size ? h->size : size);
    c_free(p);
    return q;
}

static const sio_allocator counting = {c_malloc, c_calloc, c_realloc, c_free};

/* ------------------------------------------- bypasses, seen by ASan hooks */

static pthread_t loop_thread;
static volatile int window; /* the server's life is being watched */
static size_t bypass, bypass_libc;

enum { FROM_LIBRARY, FROM_LIBC };

/* Who made the current allocation: libc itself (the first frame outside this executable, where the
 * sanitizer's malloc is, is in libc: stdio's FILE and buffers, e.g. when OpenSSL reads its
 * configuration file at initialisation), or else the library or a library it routes. */
static int allocation_origin(void)
{
    void *frames[64];
    int n = backtrace(frames, 64), first_outside = 1;
    Dl_info self;
    dladdr((void *)allocation_origin, &self);
    for (int i = 0; i < n; i++) {
        Dl_info info;
        if (!dladdr(frames[i], &info) || info.dli_fname == NULL)
            continue;
        if (first_outside && info.dli_fbase != self.dli_fbase) {
            first_outside = 0;
            if (strstr(info.dli_fname, "/libc.so"))
                return FROM_LIBC;
        }
    }
    return FROM_LIBRARY;
}

#ifdef HAVE_ASAN_HOOKS
static __thread int in_hook;

static void on_libc_malloc(const volatile void *ptr, size_t size)
{
    if (!window || in_counting || in_hook || !pthread_equal(pthread_self(), loop_thread))
        return;
    in_hook = 1;
    int origin = allocation_origin();
    if (origin == FROM_LIBC)
        bypass_libc++;
    else {
        bypass++;
        fprintf(stderr, "allocation of %zu bytes bypassed the allocator:\n", size);
        void *frames[32];
        backtrace_symbols_fd(frames, backtrace(frames, 32), 2);
    }
    in_hook = 0;
}

static void on_libc_free(const volatile void *ptr) {}
#endif

/* ------------------------------------------------------------- a server */

typedef struct app {
    sio_http_server *http;
    sio_server *io;
    int messages;
} app;

static void on_echo(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    app *a = data;
    a->messages++;
    if (ack)
        sio_ack_send(ack, args);
}

static void on_child(sio_loop *loop, int signum, void *data);

static void on_done(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    on_child(NULL, 0, data);
}

/* The client exited: shut down (if it failed, the checks below say so). */
static void on_child(sio_loop *loop, int signum, void *data)
{
    app *a = data;
    if (a->http == NULL)
        return;
    sio_server_close(a->io);
    sio_http_server_close(a->http, NULL, NULL);
    a->http = NULL;
}

static void on_connection(sio_socket *s, void *data)
{
    json_t *auth = sio_socket_auth_copy(s);
    json_decref(auth);
    json_object_set_new(sio_socket_data_json(s), "seen", json_true());
    sio_socket_join(s, "room");
    sio_socket_on(s, "echo", on_echo, data);
    sio_socket_on(s, "done", on_done, data);
}

/* Starts node with the client script; its stdin gets the port later. */
static pid_t spawn_client(int *port_fd)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    char *argv[] = {SIOC_NODE, SIOC_SOURCE_DIR "/tests/unit/net/alloc_client.mjs", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, SIOC_NODE, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    close(fds[0]);
    *port_fd = fds[1];
    return pid;
}

static void test_every_allocation_goes_through(void **state)
{
    if (SIOC_NODE[0] == '\0')
        skip();
    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(sio_set_allocator(&counting), 0);
    int port_fd;
    pid_t client = spawn_client(&port_fd);
    loop_thread = pthread_self();
    allocation_origin(); /* backtrace's lazy set-up happens now, not in a hook */
#ifdef HAVE_ASAN_HOOKS
    __sanitizer_install_malloc_and_free_hooks(on_libc_malloc, on_libc_free);
#endif
    char line[16];

    window = 1;
    app a = {0};
    sio_loop *loop;
    sio_server_options o;
    sio_server_options_init(&o);
    o.connection_state_recovery.enabled = 1;
    int rc = sio_loop_new(&loop);
    rc = rc ? rc : sio_http_server_new(&a.http, loop, NULL);
    rc = rc ? rc : sio_server_new(&a.io, a.http, &o);
    rc = rc ? rc : sio_http_server_listen(a.http, "127.0.0.1", 0);
    sio_namespace_on_connection(sio_server_of(a.io, "/"), on_connection, &a);
    sio_loop_on_signal(loop, SIGCHLD, on_child, &a);
    int n = snprintf(line, sizeof line, "%d\n", sio_http_server_port(a.http));
    ssize_t w = write(port_fd, line, (size_t)n);
    int run = sio_loop_run(loop);
    sio_server_free(a.io);
    sio_loop_free(loop);
    OPENSSL_cleanup(); /* its one-time set-up is process state, freed here */
    window = 0;

    close(port_fd);
    int status;
    waitpid(client, &status, 0);
    assert_int_equal(rc, 0);
    assert_int_equal(w, n);
    assert_int_equal(run, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(a.messages, 2);
    printf("counting allocator: %zu allocations, %zu frees, peak %zu bytes; libc malloc on "
           "the loop thread: %zu from the library, %zu by libc itself\n",
           count.allocs, count.frees, count.peak, bypass, bypass_libc);
    assert_true(count.allocs > 100);
    assert_int_equal(count.foreign_frees, 0);
    assert_int_equal(count.live, 0);
    assert_int_equal(count.allocs, count.frees);
    assert_int_equal(bypass, 0);
    /* libc's stdio, for OpenSSL's configuration file: once per process. */
    assert_true(bypass_libc <= 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_goes_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
