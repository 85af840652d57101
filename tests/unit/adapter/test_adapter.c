/* The adapter contract (src/adapter/adapter.h), checked through the public
 * API against EVERY adapter in ADAPTERS below: the same cases run on the
 * in-memory adapter and on each cluster implementation (one server per
 * node, clients spread over the nodes, messages between nodes delivered
 * by the kind's pump). To test a new adapter, add an adapter_kind. */
#include "bus_adapter.h"
#include "harness.h"
#include "redis_fake.h"

/* ---- the adapters under test */

static const adapter_kind ADAPTERS[] = {
    {.name = "in-memory", .nodes = 1, .server_side = 0},
    {.name = "bus cluster, 2 nodes",
     .nodes = 2,
     .server_side = 1,
     .make = bus_adapter_new,
     .data = bus_node,
     .setup = bus_setup,
     .pump = bus_pump,
     .teardown = bus_teardown,
     .deafen = bus_deafen},
    {.name = "bus cluster, 3 nodes",
     .nodes = 3,
     .server_side = 1,
     .make = bus_adapter_new,
     .data = bus_node,
     .setup = bus_setup,
     .pump = bus_pump,
     .teardown = bus_teardown,
     .deafen = bus_deafen},
    {.name = "redis adapter (fake Redis), 3 nodes",
     .nodes = 3,
     .server_side = 1,
     .make = sio__rcluster_factory,
     .data = redis_node,
     .setup = redis_setup,
     .pump = redis_pump,
     .teardown = redis_teardown,
     .deafen = redis_deafen,
     .link = redis_link},
};

/* ---- helpers */

static cluster CL;

static const adapter_kind *kind_of(void **state)
{
    return *state;
}

/* The node client i is on. */
static size_t node_of(const cluster *c, size_t i)
{
    return i % c->kind->nodes;
}

/* A broadcast operator on node n. */
static sio_broadcast *op(size_t n)
{
    return sio_broadcast_new(CL.nsp[n]);
}

/* The ack id of an EVENT "42/t,<id>[...]" just sent to f. */
static long ack_id_of(fake *f)
{
    const char *m = next_msg(f);
    assert_non_null(m);
    assert_true(strncmp(m, "42/t,", 5) == 0);
    return strtol(m + 5, NULL, 10);
}

/* f answers ack id with the JSON array text args. */
static void answer(fake *f, long id, const char *args)
{
    char buf[256];
    snprintf(buf, sizeof buf, "3/t,%ld%s", id, args);
    recv_text(f, buf);
}

static size_t total_room_size(const char *room)
{
    size_t n = 0;
    for (size_t i = 0; i < CL.kind->nodes; i++)
        n += sio_namespace_room_size(CL.nsp[i], room);
    return n;
}

/* 0 in "a", 1 in "a" and "b". */
static void join_ab(void)
{
    sio_socket_join(CL.s[0], "a");
    sio_socket_join(CL.s[1], "a");
    sio_socket_join(CL.s[1], "b");
}

/* Starts the cluster of this test's adapter with n clients. */
static void start(void **state, int n)
{
    cluster_start(&CL, kind_of(state));
    for (int i = 0; i < n; i++)
        cluster_connect(&CL);
}

/* ---- rooms */

static void test_rooms(void **state)
{
    start(state, 3);
    join_ab();
    assert_true(sio_socket_in_room(CL.s[1], "b"));
    assert_true(sio_socket_in_room(CL.s[1], sio_socket_id(CL.s[1])));
    assert_false(sio_socket_in_room(CL.s[0], "b"));
    const char *r[4];
    assert_int_equal(sio_socket_rooms(CL.s[1], r, 4), 3);
    assert_string_equal(r[0], sio_socket_id(CL.s[1])); /* own id first */
    assert_int_equal(total_room_size("a"), 2);
    assert_int_equal(total_room_size("b"), 1);
    assert_int_equal(total_room_size("none"), 0);
    assert_int_equal(total_room_size(sio_socket_id(CL.s[2])), 1);
    /* every socket's id is a room (Node's adapter.rooms) */
    size_t rooms = 0;
    for (size_t i = 0; i < CL.kind->nodes; i++)
        rooms += sio_namespace_rooms(CL.nsp[i], NULL, 0);
    /* 3 own ids, "a" on the nodes of 0 and 1, "b" on the node of 1 */
    assert_int_equal(rooms, 3 + (node_of(&CL, 0) == node_of(&CL, 1) ? 1 : 2) + 1);
    sio_socket_leave(CL.s[1], "a");
    assert_int_equal(total_room_size("a"), 1);
    /* another socket may join a room named by an id */
    sio_socket_join(CL.s[0], sio_socket_id(CL.s[0]) /* own: no-op */);
    assert_int_equal(sio_socket_rooms(CL.s[0], r, 4), 2);
    cluster_stop(&CL);
}

/* Room events, as Node's adapter emits them, on the node of clients 0 and
 * `nodes` (both on node 0). */
static char evlog[2048];

static void on_room(sio_namespace *nsp, sio_room_event ev, const char *room, const char *sid,
                    void *data)
{
    static const char *names[] = {"create", "delete", "join", "leave"};
    size_t len = strlen(evlog);
    snprintf(evlog + len, sizeof evlog - len, "%s(%s%s%s) ", names[ev], room, sid ? "," : "",
             sid ? sid : "");
}

/* Compares the log, socket ids written as #<client index>. */
static void expect_log(const char *expect)
{
    char want[512];
    size_t w = 0;
    for (const char *p = expect; *p && w < sizeof want - 32; p++) {
        if (*p != '#') {
            want[w++] = *p;
            continue;
        }
        size_t i = strtoul(p + 1, (char **)&p, 10);
        p--;
        w += (size_t)snprintf(want + w, sizeof want - w, "%s", CL.f[i]->sid);
    }
    want[w] = 0;
    assert_string_equal(evlog, want);
    evlog[0] = 0;
}

static void test_room_events(void **state)
{
    cluster_start(&CL, kind_of(state));
    evlog[0] = 0;
    assert_int_equal(sio_namespace_on_room_event(CL.nsp[0], on_room, NULL), 0);
    size_t a = cluster_connect(&CL);
    expect_log("create(#0) join(#0,#0) ");
    size_t b = a;
    for (size_t i = 1; i <= CL.kind->nodes; i++)
        b = cluster_connect(&CL); /* the next one on node 0 */
    assert_int_equal(node_of(&CL, b), 0);
    char expect[128];
    snprintf(expect, sizeof expect, "create(#%zu) join(#%zu,#%zu) ", b, b, b);
    expect_log(expect);
    sio_socket_join(CL.s[a], "r");
    expect_log("create(r) join(r,#0) ");
    sio_socket_join(CL.s[b], "r");
    sio_socket_join(CL.s[b], "r"); /* already in: nothing */
    snprintf(expect, sizeof expect, "join(r,#%zu) ", b);
    expect_log(expect);
    sio_socket_leave(CL.s[a], "r");
    sio_socket_leave(CL.s[a], "r");
    expect_log("leave(r,#0) ");
    /* b joins the room named by a's id: it exists already */
    sio_socket_join(CL.s[b], sio_socket_id(CL.s[a]));
    snprintf(expect, sizeof expect, "join(#0,#%zu) ", b);
    expect_log(expect);
    /* a leaves everything when it disconnects: its own room stays (b) */
    sio_socket_disconnect(CL.s[a], 0);
    expect_log("leave(#0,#0) ");
    sio_socket_leave(CL.s[b], CL.f[a]->sid);
    snprintf(expect, sizeof expect, "leave(#0,#%zu) delete(#0) ", b);
    expect_log(expect);
    sio_socket_disconnect(CL.s[b], 0);
    snprintf(expect, sizeof expect, "leave(#%zu,#%zu) delete(#%zu) leave(r,#%zu) delete(r) ", b, b,
             b, b);
    expect_log(expect);
    cluster_stop(&CL);
}

/* ---- broadcast */

static void test_broadcast(void **state)
{
    start(state, 4);
    join_ab();
    sio_socket_join(CL.s[2], "b");
    pump(&CL);
    size_t last = CL.kind->nodes - 1; /* emit from the last node */
    sio_args *x = sio_args_json(json_pack("[s]", "x"));
    assert_int_equal(
        sio_broadcast_emit(sio_broadcast_to(sio_broadcast_to(op(last), "a"), "b"), "e", x), 0);
    pump(&CL);
    for (int i = 0; i < 3; i++)
        expect_msg(CL.f[i], "42/t,[\"e\",\"x\"]");
    expect_none(CL.f[1]); /* once, though in both rooms */
    expect_none(CL.f[3]);
    sio_broadcast_emit(sio_broadcast_except(sio_broadcast_to(op(last), "a"), "b"), "e2", NULL);
    pump(&CL);
    expect_msg(CL.f[0], "42/t,[\"e2\"]");
    expect_none(CL.f[1]);
    /* socket.broadcast: all but the sender, wherever they are */
    sio_broadcast_emit(sio_socket_broadcast(CL.s[3]), "e3", NULL);
    pump(&CL);
    for (int i = 0; i < 3; i++)
        expect_msg(CL.f[i], "42/t,[\"e3\"]");
    expect_none(CL.f[3]);
    /* local: never published */
    sio_broadcast_emit(sio_broadcast_local(op(0)), "loc", NULL);
    pump(&CL);
    for (size_t i = 0; i < 4; i++) {
        if (node_of(&CL, i) == 0)
            expect_msg(CL.f[i], "42/t,[\"loc\"]");
        expect_none(CL.f[i]);
    }
    /* encoded once per node: recipients on one node share the buffer */
    sio_namespace_emit(CL.nsp[0], "all", x);
    pump(&CL);
    for (size_t i = 0; i < 4; i++)
        expect_msg(CL.f[i], "42/t,[\"all\",\"x\"]");
    if (CL.kind->nodes == 1)
        assert_ptr_equal(CL.f[0]->msgs[CL.f[0]->n - 1], CL.f[3]->msgs[CL.f[3]->n - 1]);
    sio_args_free(x);
    cluster_stop(&CL);
}

static void test_socket_operations(void **state)
{
    start(state, 4);
    sio_socket_join(CL.s[1], "b");
    sio_socket_join(CL.s[2], "b");
    pump(&CL);
    assert_int_equal(sio_broadcast_sockets_join(sio_broadcast_to(op(0), "b"), "c"), 0);
    pump(&CL);
    assert_true(sio_socket_in_room(CL.s[1], "c"));
    assert_true(sio_socket_in_room(CL.s[2], "c"));
    assert_false(sio_socket_in_room(CL.s[0], "c"));
    assert_int_equal(sio_broadcast_sockets_leave(sio_broadcast_except(op(0), "c"), "b"), 0);
    assert_int_equal(sio_broadcast_sockets_leave(op(0), "c"), 0);
    pump(&CL);
    assert_false(sio_socket_in_room(CL.s[1], "c"));
    assert_true(sio_socket_in_room(CL.s[1], "b"));
    assert_int_equal(sio_broadcast_sockets_join(op(0), NULL), SIO_EINVAL);
    assert_int_equal(sio_broadcast_disconnect_sockets(sio_broadcast_to(op(0), "b"), 0), 0);
    pump(&CL);
    expect_msg(CL.f[1], "41/t,");
    expect_msg(CL.f[2], "41/t,");
    expect_none(CL.f[0]);
    size_t left = 0;
    for (size_t i = 0; i < CL.kind->nodes; i++)
        left += sio_namespace_sockets_count(CL.nsp[i]);
    assert_int_equal(left, 2);
    cluster_stop(&CL);
}

/* ---- fetchSockets */

static sio_fetch_result *fetched;
static int fetch_err = 1;

static void on_fetch(sio_namespace *nsp, int err, sio_fetch_result *r, void *data)
{
    fetch_err = err;
    fetched = r;
}

static sio_remote_socket *find(const char *id)
{
    for (size_t i = 0; i < sio_fetch_result_count(fetched); i++)
        if (strcmp(sio_remote_socket_id(sio_fetch_result_get(fetched, i)), id) == 0)
            return sio_fetch_result_get(fetched, i);
    return NULL;
}

static void test_fetch_sockets(void **state)
{
    start(state, 3);
    sio_socket_join(CL.s[1], "a");
    sio_socket_join(CL.s[2], "a");
    json_object_set_new(sio_socket_data_json(CL.s[2]), "k", json_integer(7));
    fetched = NULL;
    fetch_err = 1;
    assert_int_equal(
        sio_broadcast_fetch_sockets_async(sio_broadcast_to(op(0), "a"), on_fetch, NULL), 0);
    advance(&CL, 0);
    assert_int_equal(fetch_err, 0);
    assert_int_equal(sio_fetch_result_count(fetched), 2);
    assert_null(sio_fetch_result_get(fetched, 2));
    sio_remote_socket *r2 = find(sio_socket_id(CL.s[2]));
    assert_non_null(r2);
    assert_null(find(sio_socket_id(CL.s[0])));
    /* a socket on this node is the socket itself */
    assert_ptr_equal(sio_remote_socket_local(r2), node_of(&CL, 2) == 0 ? CL.s[2] : NULL);
    assert_int_equal(json_integer_value(json_object_get(sio_remote_socket_data(r2), "k")), 7);
    json_t *rooms = sio_remote_socket_rooms(r2);
    assert_int_equal(json_array_size(rooms), 2);
    assert_string_equal(json_string_value(json_array_get(rooms, 0)), sio_socket_id(CL.s[2]));
    json_t *hs = sio_remote_socket_handshake(r2);
    assert_string_equal(json_string_value(json_object_get(hs, "address")), "127.0.0.1");
    assert_true(json_is_true(json_object_get(hs, "xdomain")));
    assert_int_equal(json_integer_value(json_object_get(hs, "issued")), 1764700000000);
    assert_string_equal(json_string_value(json_object_get(json_object_get(hs, "query"), "x")),
                        "a b");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(hs, "headers"), "origin")),
        "http://example.com");
    assert_string_equal(json_string_value(json_object_get(hs, "time")),
                        "Tue Dec 02 2025 18:26:40 GMT+0000 (Coordinated Universal Time)");
    assert_true(json_is_object(json_object_get(hs, "auth")));
    /* operations reach the socket wherever it is */
    sio_args *x = sio_args_json(json_pack("[i]", 1));
    assert_int_equal(sio_remote_socket_emit(r2, "hi", x), 0);
    assert_int_equal(sio_remote_socket_emit(r2, "connect", x), SIO_EINVAL);
    assert_int_equal(sio_remote_socket_join(r2, "z"), 0);
    pump(&CL);
    expect_msg(CL.f[2], "42/t,[\"hi\",1]");
    assert_true(sio_socket_in_room(CL.s[2], "z"));
    assert_int_equal(sio_remote_socket_leave(r2, "z"), 0);
    pump(&CL);
    assert_false(sio_socket_in_room(CL.s[2], "z"));
    assert_int_equal(sio_remote_socket_disconnect(r2, 0), 0);
    pump(&CL);
    expect_msg(CL.f[2], "41/t,");
    sio_fetch_result_free(fetched);
    sio_args_free(x);
    /* every socket, from another node */
    assert_int_equal(sio_broadcast_fetch_sockets_async(op(CL.kind->nodes - 1), on_fetch, NULL), 0);
    advance(&CL, 0);
    assert_int_equal(fetch_err, 0);
    assert_int_equal(sio_fetch_result_count(fetched), 2);
    sio_fetch_result_free(fetched);
    assert_int_equal(sio_broadcast_fetch_sockets_async(op(0), NULL, NULL), SIO_EINVAL);
    cluster_stop(&CL);
}

/* ---- broadcast with acks */

static int bc_calls, bc_err;
static char bc_responses[256];

static void on_bc(sio_namespace *nsp, int err, const sio_args *responses, void *data)
{
    bc_calls++;
    bc_err = err;
    char *t = json_dumps(responses->arr, JSON_COMPACT);
    snprintf(bc_responses, sizeof bc_responses, "%s", t);
    free(t);
}

static void test_broadcast_with_ack(void **state)
{
    start(state, 3);
    sio_socket_join(CL.s[0], "a");
    sio_socket_join(CL.s[1], "a");
    pump(&CL);
    bc_calls = 0;
    assert_int_equal(
        sio_broadcast_emit_with_ack(sio_broadcast_timeout(sio_broadcast_to(op(0), "a"), 500), "q",
                                    NULL, on_bc, NULL),
        0);
    pump(&CL);
    long id0 = ack_id_of(CL.f[0]), id1 = ack_id_of(CL.f[1]);
    expect_none(CL.f[2]);
    answer(CL.f[0], id0, "[]");
    answer(CL.f[1], id1, "[\"one\",2]");
    pump(&CL);
    assert_int_equal(bc_calls, 0); /* never inside the call that completed it */
    advance(&CL, 0);
    assert_int_equal(bc_calls, 1);
    assert_int_equal(bc_err, 0);
    assert_string_equal(bc_responses, "[null,\"one\"]");
    answer(CL.f[0], id0, "[3]"); /* late and duplicate: ignored */
    advance(&CL, 1000);
    assert_int_equal(bc_calls, 1);

    /* one client does not answer in time: the error and those that did */
    assert_int_equal(sio_broadcast_emit_with_ack(sio_broadcast_timeout(op(1 % CL.kind->nodes), 500),
                                                 "q", NULL, on_bc, NULL),
                     0);
    pump(&CL);
    long ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = ack_id_of(CL.f[i]);
    answer(CL.f[2], ids[2], "[{\"x\":1}]");
    answer(CL.f[0], ids[0], "[0]");
    advance(&CL, 499);
    assert_int_equal(bc_calls, 1);
    advance(&CL, 1);
    assert_int_equal(bc_calls, 2);
    assert_int_equal(bc_err, SIO_ETIMEDOUT);
    assert_string_equal(bc_responses, "[{\"x\":1},0]");
    answer(CL.f[1], ids[1], "[1]");
    advance(&CL, 10);
    assert_int_equal(bc_calls, 2);

    /* nobody to ask: done at once (but not inside the call) */
    assert_int_equal(
        sio_broadcast_emit_with_ack(sio_broadcast_timeout(sio_broadcast_to(op(0), "none"), 500),
                                    "q", NULL, on_bc, NULL),
        0);
    assert_int_equal(bc_calls, 2);
    advance(&CL, 0);
    assert_int_equal(bc_calls, 3);
    assert_int_equal(bc_err, 0);
    assert_string_equal(bc_responses, "[]");
    /* no timeout set: Node's setTimeout(undefined), 1 ms */
    assert_int_equal(sio_broadcast_emit_with_ack(op(0), "q", NULL, on_bc, NULL), 0);
    advance(&CL, 1);
    assert_int_equal(bc_calls, 4);
    assert_int_equal(bc_err, SIO_ETIMEDOUT);
    assert_int_equal(sio_broadcast_emit_with_ack(op(0), "connect", NULL, on_bc, NULL), SIO_EINVAL);
    assert_int_equal(sio_broadcast_emit_with_ack(op(0), "q", NULL, NULL, NULL), SIO_EINVAL);
    assert_int_equal(sio_broadcast_emit_with_ack(NULL, "q", NULL, on_bc, NULL), SIO_ENOMEM);
    cluster_stop(&CL);
}

/* A client that disconnects never answers; the rest still complete. */
static void test_broadcast_ack_disconnect(void **state)
{
    start(state, 2);
    bc_calls = 0;
    sio_broadcast_emit_with_ack(sio_broadcast_timeout(op(0), 100), "q", NULL, on_bc, NULL);
    pump(&CL);
    long id0 = ack_id_of(CL.f[0]);
    (void)ack_id_of(CL.f[1]);
    answer(CL.f[0], id0, "[\"a\"]");
    sio_socket_disconnect(CL.s[1], 0);
    pump(&CL);
    advance(&CL, 100);
    assert_int_equal(bc_calls, 1);
    assert_int_equal(bc_err, SIO_ETIMEDOUT);
    assert_string_equal(bc_responses, "[\"a\"]");
    cluster_stop(&CL);
}

/* ---- serverCount, serverSideEmit */

static int count_calls;
static size_t count_value;

static int count_err;

static void on_count(sio_namespace *nsp, int err, size_t n, void *data)
{
    count_err = err;
    count_calls++;
    count_value = n;
}

static int ss_calls, ss_err;
static char ss_responses[256];

static void on_ss_ack(sio_namespace *nsp, int err, const sio_args *responses, void *data)
{
    ss_calls++;
    ss_err = err;
    char *t = json_dumps(responses->arr, JSON_COMPACT);
    snprintf(ss_responses, sizeof ss_responses, "%s", t);
    free(t);
}

static int ss_received;

static void on_ping(sio_namespace *nsp, const sio_args *args, sio_server_ack *ack, void *data)
{
    ss_received++;
    assert_int_equal(json_integer_value(sio_args_get(args, 0)), 5);
    if (ack != NULL) {
        sio_args *a = sio_args_json(json_pack("[s,s]", "pong", "ignored"));
        assert_int_equal(sio_server_ack_send(ack, a), 0);
        assert_int_equal(sio_server_ack_send(ack, a), SIO_EBUSY);
        sio_args_free(a);
    }
}

static void test_server_side(void **state)
{
    cluster_start(&CL, kind_of(state));
    count_calls = 0;
    assert_int_equal(sio_namespace_server_count(CL.nsp[0], on_count, NULL), 0);
    advance(&CL, 0);
    assert_int_equal(count_calls, 1);
    assert_int_equal(count_err, 0);
    assert_int_equal(count_value, CL.kind->nodes);

    for (size_t i = 0; i < CL.kind->nodes; i++)
        assert_int_equal(sio_namespace_on_server_side_emit(CL.nsp[i], "ping", on_ping, NULL), 0);
    sio_args *five = sio_args_json(json_pack("[i]", 5));
    ss_calls = ss_received = 0;
    int rc = sio_namespace_server_side_emit(CL.nsp[0], "ping", five);
    advance(&CL, 0);
    if (!CL.kind->server_side) {
        /* Node's in-memory adapter: a warning, nothing delivered, no callback */
        assert_int_equal(rc, SIO_ENOTSUP);
        assert_int_equal(
            sio_namespace_server_side_emit_with_ack(CL.nsp[0], "ping", five, 100, on_ss_ack, NULL),
            SIO_ENOTSUP);
        advance(&CL, 200);
        assert_int_equal(ss_calls, 0);
        assert_int_equal(ss_received, 0);
    } else {
        assert_int_equal(rc, 0);
        assert_int_equal(ss_received, (int)CL.kind->nodes - 1); /* never this node */
        assert_int_equal(
            sio_namespace_server_side_emit_with_ack(CL.nsp[0], "ping", five, 100, on_ss_ack, NULL),
            0);
        advance(&CL, 0);
        assert_int_equal(ss_calls, 1);
        assert_int_equal(ss_err, 0);
        char want[64] = "[";
        for (size_t i = 1; i < CL.kind->nodes; i++)
            strcat(want, i > 1 ? ",\"pong\"" : "\"pong\"");
        strcat(want, "]");
        assert_string_equal(ss_responses, want);
    }
    assert_int_equal(sio_namespace_server_side_emit(CL.nsp[0], "connection", five), SIO_EINVAL);
    assert_int_equal(sio_namespace_server_side_emit(CL.nsp[0], "new_namespace", five), SIO_EINVAL);
    sio_args_free(five);
    cluster_stop(&CL);
}

/* ---- allRooms */

static int rooms_calls, rooms_err;
static size_t rooms_n;
static char rooms_named[64]; /* the names that are no socket's id, sorted */

static int by_name(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static void on_all_rooms(sio_namespace *nsp, int err, const char *const *rooms, size_t n,
                         void *data)
{
    rooms_calls++;
    rooms_err = err;
    rooms_n = n;
    rooms_named[0] = 0;
    const char *named[8];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int is_id = 0;
        for (size_t k = 0; k < CL.nclients; k++)
            is_id |= strcmp(rooms[i], sio_socket_id(CL.s[k])) == 0;
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(rooms[k], rooms[i]); /* each once */
        if (!is_id && m < 8)
            named[m++] = rooms[i];
    }
    qsort(named, m, sizeof *named, by_name);
    for (size_t i = 0; i < m; i++)
        snprintf(rooms_named + strlen(rooms_named), sizeof rooms_named - strlen(rooms_named), "%s;",
                 named[i]);
}

static void test_all_rooms(void **state)
{
    start(state, 3);
    join_ab();
    sio_socket_join(CL.s[2], "c");
    sio_socket_join(CL.s[2], "a");
    rooms_calls = 0;
    int rc = sio_namespace_all_rooms(CL.nsp[0], on_all_rooms, NULL);
    if (rc == SIO_ENOTSUP) { /* the bus adapter has no all_rooms: optional */
        cluster_stop(&CL);
        skip();
    }
    assert_int_equal(rc, 0);
    advance(&CL, 0);
    assert_int_equal(rooms_calls, 1);
    assert_int_equal(rooms_err, 0);
    assert_int_equal(rooms_n, 3 + 3); /* every socket's own id, a, b, c */
    assert_string_equal(rooms_named, "a;b;c;");
    assert_int_equal(sio_namespace_all_rooms(CL.nsp[0], NULL, NULL), SIO_EINVAL);
    if (CL.kind->nodes > 1 && CL.kind->deafen != NULL) {
        /* a node that never answers: an error at requestsTimeout, no names */
        CL.kind->deafen(CL.kind->nodes - 1, 1);
        assert_int_equal(sio_namespace_all_rooms(CL.nsp[0], on_all_rooms, NULL), 0);
        advance(&CL, 4999);
        assert_int_equal(rooms_calls, 1);
        advance(&CL, 1);
        assert_int_equal(rooms_calls, 2);
        assert_int_equal(rooms_err, SIO_ETIMEDOUT);
        assert_int_equal(rooms_n, 0);
        CL.kind->deafen(CL.kind->nodes - 1, 0);
    }
    cluster_stop(&CL);
}

/* ---- a server that does not answer: requestsTimeout */

static void test_timeouts(void **state)
{
    cluster_start(&CL, kind_of(state));
    if (CL.kind->nodes < 2 || CL.kind->deafen == NULL) {
        cluster_stop(&CL);
        skip();
    }
    size_t last = CL.kind->nodes - 1;
    for (size_t i = 0; i < CL.kind->nodes; i++) {
        cluster_connect(&CL);
        sio_namespace_on_server_side_emit(CL.nsp[i], "ping", on_ping, NULL);
    }
    CL.kind->deafen(last, 1);
    /* fetchSockets: rejected at requestsTimeout (Node: "timeout reached") */
    fetched = NULL;
    fetch_err = 1;
    assert_int_equal(sio_broadcast_fetch_sockets_async(op(0), on_fetch, NULL), 0);
    advance(&CL, 4999);
    assert_int_equal(fetch_err, 1);
    advance(&CL, 1);
    assert_int_equal(fetch_err, SIO_ETIMEDOUT);
    assert_null(fetched);
    /* serverSideEmit with an ack: the error and the answers that came */
    sio_args *five = sio_args_json(json_pack("[i]", 5));
    ss_calls = 0;
    assert_int_equal(
        sio_namespace_server_side_emit_with_ack(CL.nsp[0], "ping", five, 100, on_ss_ack, NULL), 0);
    advance(&CL, 100);
    assert_int_equal(ss_calls, 1);
    assert_int_equal(ss_err, SIO_ETIMEDOUT);
    assert_string_equal(ss_responses, CL.kind->nodes == 2 ? "[]" : "[\"pong\"]");
    /* broadcast with acks: the deaf server never reports its clients */
    bc_calls = 0;
    sio_broadcast_emit_with_ack(sio_broadcast_timeout(op(0), 200), "q", NULL, on_bc, NULL);
    pump(&CL);
    for (size_t i = 0; i < last; i++)
        answer(CL.f[i], ack_id_of(CL.f[i]), "[1]");
    expect_none(CL.f[last]);
    advance(&CL, 199);
    assert_int_equal(bc_calls, 0);
    advance(&CL, 1);
    assert_int_equal(bc_calls, 1);
    assert_int_equal(bc_err, SIO_ETIMEDOUT);
    CL.kind->deafen(last, 0);
    sio_args_free(five);
    cluster_stop(&CL);
}

/* ---- the link to the bus down: a server count waits for it (Node's
 * node-redis queues the command while it reconnects), up to
 * requestsTimeout; so does the count a request starts with */

static void test_link_down(void **state)
{
    cluster_start(&CL, kind_of(state));
    if (CL.kind->link == NULL) {
        cluster_stop(&CL);
        skip();
    }
    cluster_connect(&CL);
    CL.kind->link(0, 0);
    count_calls = 0;
    assert_int_equal(sio_namespace_server_count(CL.nsp[0], on_count, NULL), 0);
    advance(&CL, 3000);
    assert_int_equal(count_calls, 0); /* no error at once: waiting */
    CL.kind->link(0, 1);
    advance(&CL, 0);
    assert_int_equal(count_calls, 1);
    assert_int_equal(count_err, 0);
    assert_int_equal(count_value, CL.kind->nodes);
    /* still away at requestsTimeout: an error then */
    CL.kind->link(0, 0);
    assert_int_equal(sio_namespace_server_count(CL.nsp[0], on_count, NULL), 0);
    advance(&CL, 4999);
    assert_int_equal(count_calls, 1);
    advance(&CL, 1);
    assert_int_equal(count_calls, 2);
    assert_int_equal(count_err, SIO_ETIMEDOUT);
    /* fetchSockets made while the link is down goes through once it is back */
    fetched = NULL;
    fetch_err = 1;
    assert_int_equal(sio_broadcast_fetch_sockets_async(op(0), on_fetch, NULL), 0);
    advance(&CL, 1000);
    assert_int_equal(fetch_err, 1);
    CL.kind->link(0, 1);
    advance(&CL, 0);
    assert_int_equal(fetch_err, 0);
    assert_non_null(fetched);
    sio_fetch_result_free(fetched);
    fetched = NULL;
    /* a count waiting when the server goes: called back (SIO_ECLOSED) */
    CL.kind->link(0, 0);
    assert_int_equal(sio_namespace_server_count(CL.nsp[0], on_count, NULL), 0);
    cluster_stop(&CL);
    assert_int_equal(count_calls, 3);
    assert_int_equal(count_err, SIO_ECLOSED);
}

/* ---- out of memory: every allocation of a join/broadcast failing in turn */

static void test_oom(void **state)
{
    for (int n = 1; n < 40; n++) {
        cluster_start(&CL, kind_of(state));
        for (int i = 0; i < 2; i++)
            cluster_connect(&CL);
        sio_namespace_on_room_event(CL.nsp[0], on_room, NULL);
        sio__alloc_fail_after(n);
        sio_socket_join(CL.s[0], "a");
        sio_socket_join(CL.s[1], "a");
        sio_broadcast_emit(sio_broadcast_to(op(0), "a"), "e", NULL);
        sio_broadcast_emit_with_ack(sio_broadcast_timeout(op(0), 5), "e", NULL, on_bc, NULL);
        fetched = NULL;
        sio_broadcast_fetch_sockets_async(op(0), on_fetch, NULL);
        sio_broadcast_sockets_join(op(0), "b");
        sio__alloc_fail_after(0);
        advance(&CL, 10);
        sio_fetch_result_free(fetched);
        evlog[0] = 0;
        cluster_stop(&CL);
    }
}

#define CASES(X)                                                                                   \
    X(test_rooms)                                                                                  \
    X(test_room_events)                                                                            \
    X(test_broadcast)                                                                              \
    X(test_socket_operations)                                                                      \
    X(test_fetch_sockets)                                                                          \
    X(test_broadcast_with_ack)                                                                     \
    X(test_broadcast_ack_disconnect)                                                               \
    X(test_server_side)                                                                            \
    X(test_all_rooms)                                                                              \
    X(test_timeouts)                                                                               \
    X(test_link_down)                                                                              \
    X(test_oom)

int main(void)
{
    int failed = 0;
    for (size_t k = 0; k < sizeof ADAPTERS / sizeof ADAPTERS[0]; k++) {
#define ENTRY(t) {#t, t, NULL, NULL, (void *)&ADAPTERS[k]},
        const struct CMUnitTest tests[] = {CASES(ENTRY)};
#undef ENTRY
        failed += _cmocka_run_group_tests(ADAPTERS[k].name, tests, sizeof tests / sizeof tests[0],
                                          NULL, NULL);
    }
    return failed;
}
