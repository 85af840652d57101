/* Node's serveClient: the socket.io-client bundle at <path>/socket.io.js,
 * socket.io.min.js, socket.io.esm.min.js, socket.io.msgpack.min.js and
 * their .map files.
 *
 * The files are read once, when the Socket.IO server is created, from a
 * directory the application names (socket.io-client's dist/ folder, as
 * Node's socket.io ships it in client-dist/): the library never looks for
 * node_modules itself, and serving never touches the disk or blocks the
 * loop. Each file is kept with its gzip and deflate forms. A request path
 * that is not exactly one of the names is not answered here (no path is
 * mapped onto the file system).
 *
 * Answers as Node's Server.serve(): ETag "<client version>" (read from the
 * bundle's banner "Socket.IO vX.Y.Z"; a content hash if it has none), 304
 * when If-None-Match is that tag or its W/ form, Cache-Control: public,
 * max-age=0, Content-Type application/javascript or application/json
 * (maps), Content-Encoding gzip or deflate as Accept-Encoding asks (Node
 * also offers br, which sioc does not). Any method gets the file, as in
 * Node (the net layer leaves the body out for HEAD). */
#ifndef SIO_HTTP_CLIENT_FILES_H
#define SIO_HTTP_CLIENT_FILES_H

#include <stddef.h>

#include "core/buf.h"

typedef struct sio__client_files sio__client_files;

/* Loads the bundle files present in dir, served under prefix (the
 * Socket.IO path, e.g. "/socket.io"). socket.io.js is required, the others
 * optional. SIO_EIO (socket.io.js unreadable), SIO_ENOMEM, SIO_EINVAL. */
int sio__client_files_load(sio__client_files **out, const char *prefix, const char *dir);
void sio__client_files_free(sio__client_files *f);

/* An answer: status, header lines ("Name: value\r\n"...) and a body
 * borrowed from the files. */
typedef struct sio__client_answer {
    int status;
    char headers[256];
    const char *body;
    size_t len;
} sio__client_answer;

/* 1 with *out filled if path is one of the files, else 0. if_none_match
 * and accept_encoding may be NULL. */
int sio__client_files_answer(const sio__client_files *f, sio__slice path, sio__slice if_none_match,
                             sio__slice accept_encoding, sio__client_answer *out);

/* Makes http answer f's paths before its request handler (implemented by
 * the net layer, which owns the HTTP server; it cannot fail). f is
 * borrowed: it must live until the server is closed. */
#include "sioc.h"
void sio__http_server_serve_client(sio_http_server *http, sio__client_files *f);
/* The next set registered after f on the same server (the net layer's
 * list link, kept inside f). */
sio__client_files **sio__client_files_next(sio__client_files *f);

#endif
