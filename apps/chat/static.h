/* The chat's page, served from memory (the socket.io-client bundle is the
 * library's serveClient option, see sio_server_options.serve_client_dir).
 *
 * The page is read once at start-up, with a strong ETag and a gzip copy,
 * so serving never touches the disk or blocks the loop. Only the files
 * registered here are served: no request path is ever mapped onto the
 * file system. */
#ifndef CHAT_STATIC_H
#define CHAT_STATIC_H

#include "sioc.h"

typedef struct chat_static chat_static;

/* Loads the page from public_dir/index.html. SIO_EIO if it cannot be read. */
int chat_static_load(chat_static **out, const char *public_dir);
void chat_static_free(chat_static *st);
/* Answers req if its path is one of the files (GET/HEAD; 304 on a matching
 * If-None-Match; gzip when accepted); else 404 (405 for other methods). */
void chat_static_serve(chat_static *st, sio_req *req);

#endif
