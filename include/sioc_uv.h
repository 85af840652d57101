/* sioc on a libuv loop the program already runs.
 *
 * Optional: include it only to share a uv_loop_t with sioc (the program's
 * own, or another library's). sioc.h alone never exposes libuv types.
 *
 *   uv_loop_t *uv = uv_default_loop();
 *   sio_loop *loop;
 *   sio_loop_new_from_uv(&loop, uv);
 *   ... sio_http_server_new(&http, loop, NULL), sio_server_new(...) ...
 *   uv_run(uv, UV_RUN_DEFAULT);        // the program runs the loop
 *
 * Everything sioc does then runs inside the program's uv_run, on its
 * thread. sioc's internal handles are unreferenced: only its servers (and
 * sio_loop_timer timers, sio_loop_work requests) keep the loop alive.
 * sio_loop_run and sio_loop_stop work as well (they run/stop that uv loop).
 *
 * Freeing: sio_loop_free() closes sioc's handles; the sio_loop's memory is
 * released when the program's loop runs their close callbacks, so run it
 * (one uv_run(uv, UV_RUN_DEFAULT) or UV_RUN_NOWAIT pass) before
 * uv_loop_close(uv). The uv_loop_t stays the program's: sioc never closes
 * it. */
#ifndef SIOC_UV_H
#define SIOC_UV_H

#include <uv.h>

#include "sioc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A sio_loop on uv (borrowed: it must outlive the sio_loop). SIO_EINVAL
 * (uv NULL), SIO_ENOMEM. */
int sio_loop_new_from_uv(sio_loop **out, uv_loop_t *uv);
/* The libuv loop under loop (sioc's own or the program's). */
uv_loop_t *sio_loop_uv(sio_loop *loop);

#ifdef __cplusplus
}
#endif

#endif
