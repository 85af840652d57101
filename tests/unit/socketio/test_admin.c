/* Unit tests for the admin UI instrumentation's set-up (socketio/admin.c)
 * on a Socket.IO core without sockets: the options Node's instrument()
 * refuses, one instrumentation per server, the bcrypt hash check, the
 * namespace it creates and what the server frees. Its protocol is tested
 * against Node's own instrument() by tests/e2e/admin.test.mjs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "socketio/admin.h"
#include "socketio/sio_internal.h"
#include "../xorshift.h"

static uint64_t now_ms;
static sio__timers wheel;

static uint64_t fake_now(void *data)
{
    return now_ms;
}

static const sio__env fake_env = {&wheel, fake_now, NULL, xorshift_random, NULL, NULL};

static int verify_calls;

static int fake_verify(void *ctx, const char *hash, const char *password,
                       void (*done)(int ok, void *arg), void *arg)
{
    verify_calls++;
    return SIO_EIO; /* never started: no socket asks in these tests */
}

static double fake_uptime(void *ctx)
{
    return 1.5;
}

static const sio__admin_env admin_env = {fake_verify, fake_uptime, "host", 42, NULL};

/* bcryptjs.hashSync("s3cret", 4) */
static const char HASH[] = "$2a$04$Gw89JlauRYdLK9KjgM9nWubgViJci0I8B9BnWn6cqGpG.pTbCa6he";

static sio_server *new_server(void)
{
    sio__timers_init(&wheel, 0);
    sio_server_options so;
    sio_server_options_init(&so);
    sio_server *srv = NULL;
    assert_int_equal(sio__server_new_core(&srv, &so, &fake_env), 0);
    return srv;
}

static void free_server(sio_server *srv)
{
    sio_server_free(srv);
    sio__timers_free(&wheel);
}

static sio_admin_options basic(void)
{
    sio_admin_options o;
    sio_admin_options_init(&o);
    o.username = "admin";
    o.password = HASH;
    o.mode = "development";
    return o;
}

static void test_bcrypt_shape(void **state)
{
    (void)state;
    assert_true(sio__admin_is_bcrypt(HASH));
    char h[sizeof HASH];
    memcpy(h, HASH, sizeof HASH);
    h[2] = 'b';
    assert_true(sio__admin_is_bcrypt(h));
    h[2] = 'x'; /* $2x$: not what bcryptjs accepts */
    assert_false(sio__admin_is_bcrypt(h));
    assert_false(sio__admin_is_bcrypt("s3cret"));
    assert_false(sio__admin_is_bcrypt("$2a$04$short"));
    assert_false(sio__admin_is_bcrypt(NULL));
}

static void test_options_refused(void **state)
{
    (void)state;
    sio_server *srv = new_server();
    sio_admin_options o = basic();
    o.password = "s3cret"; /* Node: "the `password` field must be a valid bcrypt hash" */
    assert_int_equal(sio__admin_new(srv, &o, &admin_env), SIO_EINVAL);
    o = basic();
    o.password = NULL;
    assert_int_equal(sio__admin_new(srv, &o, &admin_env), SIO_EINVAL);
    o = basic();
    o.namespace_name = "admin";
    assert_int_equal(sio__admin_new(srv, &o, &admin_env), SIO_EINVAL);
    assert_null(srv->admin);
    assert_int_equal(sio_server_namespaces_count(srv), 1); /* "/" only */
    free_server(srv);
}

static void test_once_per_server(void **state)
{
    (void)state;
    sio_server *srv = new_server();
    sio_admin_options o = basic();
    o.namespace_name = "/watch";
    assert_int_equal(sio__admin_new(srv, &o, &admin_env), 0);
    assert_non_null(srv->admin);
    assert_non_null(sio__map_get(&srv->nsps, "/watch", 6));
    assert_int_equal(sio__admin_new(srv, &o, &admin_env), SIO_EEXIST);
    /* the stats timer runs on the server's wheel; namespaces made later
     * are watched too (development mode) */
    assert_true(sio__timers_count(&wheel) >= 1);
    assert_non_null(sio_server_of(srv, "/later"));
    now_ms = 4000;
    sio__timers_run(&wheel, now_ms);
    assert_int_equal(verify_calls, 0);
    free_server(srv); /* frees the instrumentation: LSan checks */
}

static void test_auth_false_production(void **state)
{
    (void)state;
    sio_server *srv = new_server();
    sio_admin_options o;
    sio_admin_options_init(&o); /* username NULL: Node's auth: false */
    o.mode = "production";
    o.readonly = 1;
    assert_int_equal(sio__admin_new(srv, &o, &admin_env), 0);
    assert_non_null(sio__map_get(&srv->nsps, "/admin", 6));
    free_server(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bcrypt_shape),
        cmocka_unit_test(test_options_refused),
        cmocka_unit_test(test_once_per_server),
        cmocka_unit_test(test_auth_false_production),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
