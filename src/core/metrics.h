/* Metrics: the counters and gauges of sio_metrics (sioc.h), one instance
 * per process, updated in place by each layer (an add on the loop thread:
 * no lock, no atomic) and copied out by sio_metrics_get. */
#ifndef SIO_CORE_METRICS_H
#define SIO_CORE_METRICS_H

#include "sioc.h"

extern sio_metrics sio__metrics;

#define SIO_METRIC_ADD(field, n) (sio__metrics.field += (uint64_t)(n))
#define SIO_METRIC_INC(field) (sio__metrics.field++)
/* Counts one of two outcomes. */
#define SIO_METRIC_INC_IF(cond, yes, no) ((cond) ? SIO_METRIC_INC(yes) : SIO_METRIC_INC(no))
/* Gauges never go below zero, whatever the order of events. */
#define SIO_METRIC_DEC(field) (sio__metrics.field -= sio__metrics.field > 0)
#define SIO_METRIC_SUB(field, n)                                                                   \
    (sio__metrics.field -= (uint64_t)(n) < sio__metrics.field ? (uint64_t)(n) : sio__metrics.field)

#endif
