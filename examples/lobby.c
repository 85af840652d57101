/* lobby: rooms, a middleware and broadcasts.
 *
 * A client must give a name (io({auth: {name: "ada"}})), or the middleware
 * refuses it with connect_error "name required". Everyone is in "lobby";
 * "join" (room, ack) enters a room and tells its members "joined" (name,
 * room); "say" (room, text, ack) sends "said" (name, room, text) to the
 * room's other members and acks how many rooms the sender is in; leaving
 * tells the lobby "left" (name).
 *
 *   ./lobby [[--port] N]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sioc.h>

#define LOBBY "lobby"

/* The name the middleware checked, kept in the socket's data object. */
static const char *name_of(sio_socket *s)
{
    return json_string_value(json_object_get(sio_socket_data_json(s), "name"));
}

/* Node's io.use((socket, next) => ...): accept only named clients. */
static void require_name(sio_socket *s, sio_middleware_next *next, void *data)
{
    json_t *name = json_object_get(sio_socket_auth(s), "name");
    if (!json_is_string(name) || json_string_length(name) == 0 || json_string_length(name) > 32) {
        sio_next_error(next, "name required", NULL);
        return;
    }
    json_object_set(sio_socket_data_json(s), "name", name);
    sio_next(next);
}

/* "join" (room): enter it, tell its members, ack true. */
static void on_join(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    const char *room = json_string_value(sio_args_get(args, 0));
    int ok = room != NULL && sio_socket_join(s, room) == 0;
    if (ok) {
        sio_args *out = sio_args_json(json_pack("[ss]", name_of(s), room));
        sio_broadcast_emit(sio_broadcast_to(sio_socket_broadcast(s), room), "joined", out);
        sio_args_free(out);
    }
    if (ack) {
        sio_args *res = sio_args_json(json_pack("[b]", ok));
        sio_ack_send(ack, res);
        sio_args_free(res);
    }
}

/* "say" (room, text): to the room's other members. */
static void on_say(sio_socket *s, const sio_args *args, sio_ack *ack, void *data)
{
    const char *room = json_string_value(sio_args_get(args, 0));
    json_t *text = sio_args_get(args, 1);
    if (room == NULL || !json_is_string(text) || !sio_socket_in_room(s, room))
        return;
    sio_args *out = sio_args_json(json_pack("[ssO]", name_of(s), room, text));
    sio_broadcast_emit(sio_broadcast_to(sio_socket_broadcast(s), room), "said", out);
    sio_args_free(out);
    if (ack) {
        sio_args *n = sio_args_json(json_pack("[I]", (json_int_t)sio_socket_rooms(s, NULL, 0)));
        sio_ack_send(ack, n);
        sio_args_free(n);
    }
}

static void on_disconnect(sio_socket *s, const char *reason, void *data)
{
    sio_args *out = sio_args_json(json_pack("[s]", name_of(s)));
    sio_broadcast_emit(sio_broadcast_to(sio_socket_broadcast(s), LOBBY), "left", out);
    sio_args_free(out);
}

static void on_connection(sio_socket *s, void *data)
{
    sio_socket_join(s, LOBBY);
    sio_socket_on(s, "join", on_join, NULL);
    sio_socket_on(s, "say", on_say, NULL);
    sio_socket_on_disconnect(s, on_disconnect, NULL);
}

static void on_signal(sio_loop *loop, int signum, void *data)
{
    sio_server **io = data;
    if (*io != NULL)
        sio_server_shutdown(*io, NULL, NULL);
    *io = NULL;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[argc - 1]) : 3000;
    sio_loop *loop;
    sio_http_server *http;
    sio_server *io;
    sio_server_options opts;
    sio_server_options_init(&opts);
    signal(SIGPIPE, SIG_IGN);
    int rc = sio_loop_new(&loop);
    rc = rc ? rc : sio_http_server_new(&http, loop, NULL);
    rc = rc ? rc : sio_server_new(&io, http, &opts);
    rc = rc ? rc : sio_http_server_listen(http, "127.0.0.1", port);
    if (rc < 0) {
        fprintf(stderr, "lobby: %s\n", sio_strerror(rc));
        return 1;
    }
    sio_namespace *nsp = sio_server_of(io, "/");
    sio_namespace_use(nsp, require_name, NULL);
    sio_namespace_on_connection(nsp, on_connection, NULL);
    sio_loop_on_signal(loop, SIGINT, on_signal, &io);
    sio_loop_on_signal(loop, SIGTERM, on_signal, &io);
    printf("listening on http://localhost:%d\n", sio_http_server_port(http));
    fflush(stdout);
    rc = sio_loop_run(loop);
    sio_loop_free(loop);
    return rc < 0 ? 1 : 0;
}
