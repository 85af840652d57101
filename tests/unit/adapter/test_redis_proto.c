/* Unit tests for adapter/redis_proto against golden vectors: every message
 * the real @socket.io/redis-adapter 8.3 and @socket.io/redis-emitter 5.1
 * published in tests/golden/redis_capture.mjs (redis_golden.inc) decodes,
 * and sioc's encoders reproduce Node's bytes exactly when given the same
 * uid and request id. Then malformed input: every one is refused with an
 * error, never a crash or a huge allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "adapter/redis_proto.h"
#include "core/error.h"

typedef struct golden {
    const char *name;
    const char *channel;
    size_t len;
    const unsigned char *bytes;
} golden;

#define GOLDEN(n, c, l, b) {n, c, l, b},
static const golden vectors[] = {
#include "redis_golden.inc"
};
#undef GOLDEN

static const golden *find(const char *name)
{
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++)
        if (strcmp(vectors[i].name, name) == 0)
            return &vectors[i];
    fail_msg("no golden vector %s", name);
    return NULL;
}

/* The uid / requestId Node used in a golden message. */
static void ids_of(const golden *g, char *uid, char *rid)
{
    sio__rmsg m;
    int rc = g->channel[strlen(g->channel) - 2] == '/' && strstr(g->channel, "-re") == NULL
                 ? sio__rmsg_decode_broadcast(g->bytes, g->len, &m)
                 : sio__rmsg_decode_request(g->bytes, g->len, &m);
    assert_int_equal(rc, 0);
    snprintf(uid, 16, "%s", m.uid);
    snprintf(rid, 16, "%s", m.request_id ? m.request_id : "");
    sio__rmsg_free(&m);
}

static void assert_bytes(const sio__buf *b, const golden *g)
{
    if (b->len != g->len || memcmp(b->data, g->bytes, g->len) != 0) {
        print_message("%s: %zu bytes, want %zu\n", g->name, b->len, g->len);
        fail();
    }
}

static void test_every_vector_decodes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const golden *g = &vectors[i];
        int bcast =
            strstr(g->channel, "-request#") == NULL && strstr(g->channel, "-response#") == NULL;
        sio__rmsg m;
        int rc = bcast ? sio__rmsg_decode_broadcast(g->bytes, g->len, &m)
                       : sio__rmsg_decode_request(g->bytes, g->len, &m);
        if (rc != 0)
            fail_msg("%s does not decode: %d", g->name, rc);
        if (bcast) {
            const char *nsp, *event;
            sio_args *args;
            assert_int_equal(sio__rmsg_event(&m, "packet", &nsp, &event, &args), 0);
            sio__bopts o;
            assert_int_equal(sio__rmsg_bopts(&m, "opts", &o), 0);
            sio__rbopts_fini(&o);
            sio_args_free(args);
        }
        sio__rmsg_free(&m);
    }
}

static void test_channels(void **state)
{
    (void)state;
    sio__rchan c;
    assert_int_equal(sio__rchan_init(&c, "socket.io", "/", "KAC2cN"), 0);
    assert_string_equal(c.bcast, "socket.io#/#");
    assert_string_equal(c.request, "socket.io-request#/#");
    assert_string_equal(c.response, "socket.io-response#/#");
    assert_string_equal(c.specific, find("specific_fetch_2")->channel);
    sio__buf b;
    sio__buf_init(&b, 0);
    char *r1[] = {"r1"}, *two[] = {"r1", "r2"};
    assert_int_equal(sio__rchan_broadcast(&c, r1, 1, &b), 0);
    assert_string_equal(sio__buf_cstr(&b), find("broadcast_room_bin_1")->channel);
    b.len = 0;
    assert_int_equal(sio__rchan_broadcast(&c, two, 2, &b), 0);
    assert_string_equal(sio__buf_cstr(&b), find("broadcast_two_rooms_1")->channel);
    b.len = 0;
    assert_int_equal(sio__rchan_response_to(&c, 1, "KAC2cN", &b), 0);
    assert_string_equal(sio__buf_cstr(&b), "socket.io-response#/#KAC2cN#");
    sio__buf_free(&b);
    sio__slice room;
    assert_int_equal(sio__rchan_room(&c, SIO_SLICE("socket.io#/#r1#"), &room), 0);
    assert_true(room.len == 2 && memcmp(room.base, "r1", 2) == 0);
    assert_int_equal(sio__rchan_room(&c, SIO_SLICE("socket.io#/#"), &room), 0);
    assert_int_equal(room.len, 0);
    assert_int_equal(sio__rchan_room(&c, SIO_SLICE("socket.io#/chat#"), &room), SIO_EPROTO);
    assert_int_equal(sio__rchan_room(&c, SIO_SLICE("other#/#"), &room), SIO_EPROTO);
    sio__rchan_fini(&c);
    assert_int_equal(sio__rchan_init(&c, "my-app", "/chat", "abcdef"), 0);
    assert_string_equal(c.bcast, "my-app#/chat#");
    assert_string_equal(c.specific, "my-app-response#/chat#abcdef#");
    sio__rchan_fini(&c);
}

/* Decodes a broadcast golden, re-encodes it with sioc and compares. */
static void reencode_broadcast(const char *name)
{
    const golden *g = find(name);
    sio__rmsg m;
    assert_int_equal(sio__rmsg_decode_broadcast(g->bytes, g->len, &m), 0);
    const char *nsp, *event;
    sio_args *args;
    assert_int_equal(sio__rmsg_event(&m, "packet", &nsp, &event, &args), 0);
    sio__bopts o;
    assert_int_equal(sio__rmsg_bopts(&m, "opts", &o), 0);
    sio__buf b;
    sio__buf_init(&b, 0);
    assert_int_equal(sio__renc_broadcast(&b, m.uid, nsp, event, args, &o), 0);
    assert_bytes(&b, g);
    sio__buf_free(&b);
    sio__rbopts_fini(&o);
    sio_args_free(args);
    sio__rmsg_free(&m);
}

static void test_broadcast_bytes(void **state)
{
    (void)state;
    reencode_broadcast("broadcast_all_1");
    reencode_broadcast("broadcast_room_bin_1");
    reencode_broadcast("broadcast_two_rooms_1");
    reencode_broadcast("broadcast_nsp_1");
    reencode_broadcast("broadcast_except_flags_1");
    /* Node's volatile + compress(false). */
    const golden *g = find("broadcast_except_flags_1");
    sio__rmsg m;
    assert_int_equal(sio__rmsg_decode_broadcast(g->bytes, g->len, &m), 0);
    sio__bopts o;
    assert_int_equal(sio__rmsg_bopts(&m, "opts", &o), 0);
    assert_int_equal(o.flags, SIO__BC_VOLATILE | SIO__BC_NOCOMPRESS);
    assert_int_equal(o.nexcept, 1);
    assert_string_equal(o.except[0], "r2");
    assert_int_equal(o.timeout, 0);
    sio__rbopts_fini(&o);
    sio__rmsg_free(&m);
}

static void test_binary_argument(void **state)
{
    (void)state;
    const golden *g = find("broadcast_room_bin_1");
    sio__rmsg m;
    assert_int_equal(sio__rmsg_decode_broadcast(g->bytes, g->len, &m), 0);
    const char *nsp, *event;
    sio_args *args;
    assert_int_equal(sio__rmsg_event(&m, "packet", &nsp, &event, &args), 0);
    assert_string_equal(nsp, "/");
    assert_string_equal(event, "bin");
    assert_int_equal(sio_args_count(args), 1);
    size_t len = 0;
    const void *p = sio_args_binary(args, sio_args_get(args, 0), &len);
    assert_non_null(p);
    assert_int_equal(len, 4);
    assert_memory_equal(p, "\xde\xad\xbe\xef", 4);
    sio_args_free(args);
    sio__rmsg_free(&m);
}

static void test_broadcast_ack_bytes(void **state)
{
    (void)state;
    const golden *g = find("broadcast_ack_1");
    sio__rmsg m;
    assert_int_equal(sio__rmsg_decode_request(g->bytes, g->len, &m), 0);
    assert_int_equal(m.type, SIO__RT_BROADCAST);
    const char *nsp, *event;
    sio_args *args;
    assert_int_equal(sio__rmsg_event(&m, "packet", &nsp, &event, &args), 0);
    sio__bopts o;
    assert_int_equal(sio__rmsg_bopts(&m, "opts", &o), 0);
    assert_int_equal(o.timeout, 1000);
    sio__buf b;
    sio__buf_init(&b, 0);
    assert_int_equal(sio__renc_broadcast_request(&b, m.uid, m.request_id, nsp, event, args, &o), 0);
    assert_bytes(&b, g);
    sio__rbopts_fini(&o);
    sio_args_free(args);
    sio__rmsg_free(&m);

    /* The client's ack: {answer: 42, bin: <Buffer 01 02 03>}. */
    g = find("broadcast_ack_3");
    assert_int_equal(sio__rmsg_decode_request(g->bytes, g->len, &m), 0);
    assert_int_equal(m.type, SIO__RT_BROADCAST_ACK);
    assert_int_equal(sio__rmsg_args(&m, "packet", 0, &args), 0);
    b.len = 0;
    assert_int_equal(sio__renc_broadcast_ack(&b, m.request_id, args), 0);
    assert_bytes(&b, g);
    sio__buf_free(&b);
    sio_args_free(args);
    sio__rmsg_free(&m);
}

/* Encodes obj and compares with the golden vector name. */
static void assert_json(json_t *obj, const char *name)
{
    assert_non_null(obj);
    sio__buf b;
    sio__buf_init(&b, 0);
    assert_int_equal(sio__renc_json(&b, obj), 0);
    assert_bytes(&b, find(name));
    sio__buf_free(&b);
    json_decref(obj);
}

static void test_json_requests_bytes(void **state)
{
    (void)state;
    char uid[16], rid[16];
    char *r1[] = {"r1"}, *r9[] = {"r9"}, *r45[] = {"r4", "r5"}, *r4[] = {"r4"};
    ids_of(find("join_1"), uid, rid);
    sio__bopts o = {.rooms = r1, .nrooms = 1};
    json_t *j = sio__rjson_request(uid, NULL, SIO__RT_REMOTE_JOIN);
    json_object_set_new(j, "opts", sio__rjson_selector(&o));
    json_object_set_new(j, "rooms", sio__rjson_strings(r45, 2));
    assert_json(j, "join_1");

    sio__bopts ex = {.except = r9, .nexcept = 1};
    j = sio__rjson_request(uid, NULL, SIO__RT_REMOTE_LEAVE);
    json_object_set_new(j, "opts", sio__rjson_selector(&ex));
    json_object_set_new(j, "rooms", sio__rjson_strings(r4, 1));
    assert_json(j, "leave_1");

    sio__bopts all = {0};
    j = sio__rjson_request(uid, NULL, SIO__RT_REMOTE_DISCONNECT);
    json_object_set_new(j, "opts", sio__rjson_selector(&all));
    json_object_set_new(j, "close", json_false());
    assert_json(j, "disconnect_1");

    j = sio__rjson_request(uid, NULL, SIO__RT_SERVER_SIDE_EMIT);
    json_object_set_new(j, "data", json_pack("[sis]", "ping", 1, "a"));
    assert_json(j, "sse_1");

    ids_of(find("all_rooms_1"), uid, rid);
    assert_json(sio__rjson_request(uid, rid, SIO__RT_ALL_ROOMS), "all_rooms_1");

    ids_of(find("fetch_1"), uid, rid);
    j = sio__rjson_request(uid, rid, SIO__RT_REMOTE_FETCH);
    json_object_set_new(j, "opts", sio__rjson_selector(&o));
    assert_json(j, "fetch_1");

    ids_of(find("sse_ack_1"), uid, rid);
    j = sio__rjson_request(uid, rid, SIO__RT_SERVER_SIDE_EMIT);
    json_object_set_new(j, "data", json_pack("[si]", "ping2", 5));
    assert_json(j, "sse_ack_1");
}

static void test_json_responses_bytes(void **state)
{
    (void)state;
    char uid[16], rid[16];
    ids_of(find("sse_ack_2"), uid, rid);
    json_t *j = sio__rjson_response(SIO__RT_SERVER_SIDE_EMIT, rid);
    json_object_set_new(j, "data", json_pack("{si}", "pong", 5));
    assert_json(j, "sse_ack_2");

    ids_of(find("broadcast_ack_2"), uid, rid);
    j = sio__rjson_response(SIO__RT_BROADCAST_CLIENT_COUNT, rid);
    json_object_set_new(j, "clientCount", json_integer(1));
    assert_json(j, "broadcast_ack_2");

    /* Responses without a type: all rooms and fetch (parsed back field by field). */
    const golden *g = find("all_rooms_2");
    sio__rmsg m;
    assert_int_equal(sio__rmsg_decode_request(g->bytes, g->len, &m), 0);
    assert_int_equal(m.type, -1);
    char **rooms;
    size_t n;
    assert_int_equal(sio__rmsg_strings(&m, "rooms", &rooms, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(rooms[1], "r1");
    sio__rstrv_free(rooms, n);
    ids_of(g, uid, rid);
    j = sio__rjson_response(-1, rid);
    json_object_set(j, "rooms", json_object_get(m.obj, "rooms"));
    assert_json(j, "all_rooms_2");
    sio__rmsg_free(&m);

    g = find("fetch_2");
    assert_int_equal(sio__rmsg_decode_request(g->bytes, g->len, &m), 0);
    const json_t *s = json_array_get(json_object_get(m.obj, "sockets"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(s, "data"), "user")),
                        "bob");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(s, "handshake"), "auth"), "token")),
                        "t");
    sio__rmsg_free(&m);
}

static void test_emitter_messages(void **state)
{
    (void)state;
    const golden *g = find("emitter_join_1");
    sio__rmsg m;
    assert_int_equal(sio__rmsg_decode_request(g->bytes, g->len, &m), 0);
    assert_int_equal(m.type, SIO__RT_REMOTE_JOIN);
    assert_string_equal(m.uid, ""); /* the emitter sends no uid there */
    char **rooms;
    size_t n;
    assert_int_equal(sio__rmsg_strings(&m, "rooms", &rooms, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rooms[0], "r6");
    sio__rstrv_free(rooms, n);
    sio__rmsg_free(&m);

    g = find("emitter_room_1");
    assert_int_equal(sio__rmsg_decode_broadcast(g->bytes, g->len, &m), 0);
    assert_string_equal(m.uid, "emitter");
    sio__rmsg_free(&m);
}

/* Each malformed message is refused. */
static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"", 0},
        {"\xc1", 1},                 /* never-used byte */
        {"\xdd\xff\xff\xff\xff", 5}, /* array32 of 4 G items, no bytes */
        {"\xdf\xff\xff\xff\xff\xa1"
         "a",
         7}, /* map32 of 4 G pairs */
        {"\xdb\xff\xff\xff\xf0"
         "abc",
         8},                         /* str32 past the end */
        {"\xc6\x7f\xff\xff\xff", 5}, /* bin32 past the end */
        {"\x93\xa1"
         "a\x80\x80\x00",
         6}, /* trailing byte */
        {"\x92\xa1"
         "a\x80",
         4},                     /* two elements, not three */
        {"\x93\x01\x80\x80", 4}, /* uid not a string */
        {"\x93\xa1"
         "a\x90\x80",
         5}, /* packet not a map */
        {"\x93\xa1"
         "a\x80\xd4\x05\x00",
         7},                             /* an ext type notepack does not know */
        {"\x93\xa2\xff\xfe\x80\x80", 6}, /* uid not UTF-8 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sio__rmsg m;
        int rc = sio__rmsg_decode_broadcast(bad[i].bytes, bad[i].len, &m);
        if (rc != SIO_EPROTO)
            fail_msg("case %zu: %d", i, rc);
        assert_null(m.obj);
    }
    /* Nesting past the cap. */
    char deep[64];
    memset(deep, 0x91, sizeof deep);
    deep[63] = 0x01;
    sio__rmsg m;
    assert_int_equal(sio__rmsg_decode_request(deep, sizeof deep, &m), SIO_EPROTO);

    static const char *const bad_req[] = {
        "{\"type\":10,\"uid\":\"x\"}",                               /* unknown request type */
        "{\"type\":\"2\"}",                                          /* type not a number */
        "{\"type\":2,\"uid\":5}",                                    /* uid not a string */
        "{\"type\":2,\"requestId\":[]}",                             /* requestId not a string */
        "{\"type\":6,\"data\":[{\"_placeholder\":true,\"num\":0}]}", /* forged binary */
        "{\"type\":",                                                /* truncated */
        "[1,2]",                                                     /* msgpack-wise garbage */
    };
    for (size_t i = 0; i < sizeof bad_req / sizeof bad_req[0]; i++)
        if (sio__rmsg_decode_request(bad_req[i], strlen(bad_req[i]), &m) != SIO_EPROTO)
            fail_msg("request %zu accepted", i);

    /* Well-formed but the wrong shapes for the accessors. */
    const char *j =
        "{\"type\":7,\"packet\":{\"type\":3,\"data\":[\"x\"]},\"opts\":{\"rooms\":[1]}}";
    assert_int_equal(sio__rmsg_decode_request(j, strlen(j), &m), 0);
    const char *nsp, *event;
    sio_args *args;
    assert_int_equal(sio__rmsg_event(&m, "packet", &nsp, &event, &args), SIO_EPROTO);
    assert_null(args);
    sio__bopts o;
    assert_int_equal(sio__rmsg_bopts(&m, "opts", &o), SIO_EPROTO);
    assert_int_equal(sio__rmsg_bopts(&m, "nope", &o), SIO_EPROTO);
    char **v;
    size_t n;
    assert_int_equal(sio__rmsg_strings(&m, "rooms", &v, &n), SIO_EPROTO);
    sio__rmsg_free(&m);
}

static void test_buffer_json(void **state)
{
    (void)state;
    sio_args *a = sio_args_new();
    assert_int_equal(sio_args_push_binary(a, "\x01\x02", 2), 0);
    json_t *v = sio__rjson_value(a->arr, a->att, a->natt);
    char *s = json_dumps(v, JSON_COMPACT);
    assert_string_equal(s, "[{\"type\":\"Buffer\",\"data\":[1,2]}]");
    free(s);
    json_decref(v);
    sio_args_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_vector_decodes),
        cmocka_unit_test(test_channels),
        cmocka_unit_test(test_broadcast_bytes),
        cmocka_unit_test(test_binary_argument),
        cmocka_unit_test(test_broadcast_ack_bytes),
        cmocka_unit_test(test_json_requests_bytes),
        cmocka_unit_test(test_json_responses_bytes),
        cmocka_unit_test(test_emitter_messages),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_buffer_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
