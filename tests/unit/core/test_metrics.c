/* sio_metrics: the snapshot copies the counters, and the Prometheus
 * rendering has HELP/TYPE for each family, one sample per line, the values
 * in place, and snprintf's length contract (NULL/0 measures; a short buffer
 * is truncated and NUL-terminated, the full length still returned). A
 * server's set and the process's totals count the same adds; NULL counts
 * in the totals only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"

static void test_snapshot_and_format(void **state)
{
    sio_metrics own = {0}; /* a server's set: counted in it and in the totals */
    SIO_METRIC_INC(&own, handshakes_polling);
    SIO_METRIC_ADD(&own, bytes_in, 1234);
    SIO_METRIC_INC(&own, rejected_handshakes[5]);
    SIO_METRIC_INC(&own, sockets);
    SIO_METRIC_DEC(&own, sockets);
    SIO_METRIC_DEC(&own, sockets); /* a gauge never goes below zero */
    SIO_METRIC_SUB(&own, write_queue_bytes, 10);
    SIO_METRIC_ADD(&own, refused_handshake_rate, 7);
    SIO_METRIC_INC(&own, refused_rooms);
    sio_metrics m;
    sio_metrics_get(&m);
    assert_memory_equal(&m, &own, sizeof m);
    SIO_METRIC_INC(NULL, upgrades); /* no server: the totals only */
    sio_metrics_get(&m);
    assert_int_equal(m.upgrades, 1);
    assert_int_equal(own.upgrades, 0);
    sio__metrics_sum(&own, &m); /* two sets of one stack add up */
    assert_int_equal(own.upgrades, 1);
    assert_int_equal(own.bytes_in, 2 * 1234);
    assert_int_equal(own.rejected_handshakes[5], 2);
    assert_int_equal(m.handshakes_polling, 1);
    assert_int_equal(m.bytes_in, 1234);
    assert_int_equal(m.rejected_handshakes[5], 1);
    assert_int_equal(m.sockets, 0);
    assert_int_equal(m.write_queue_bytes, 0);

    size_t need = sio_metrics_format(&m, NULL, 0);
    char *text = malloc(need + 1);
    assert_int_equal(sio_metrics_format(&m, text, need + 1), need);
    assert_int_equal(strlen(text), need);
    assert_non_null(strstr(text, "# TYPE sioc_handshakes_total counter\n"));
    assert_non_null(strstr(text, "\nsioc_handshakes_total{transport=\"polling\"} 1\n"));
    assert_non_null(strstr(text, "\nsioc_bytes_total{direction=\"in\"} 1234\n"));
    assert_non_null(strstr(text, "\nsioc_rejected_handshakes_total{code=\"5\"} 1\n"));
    assert_non_null(strstr(text, "# TYPE sioc_sockets gauge\n"));
    assert_non_null(strstr(text, "# TYPE sioc_limit_refusals_total counter\n"));
    assert_non_null(strstr(text, "\nsioc_limit_refusals_total{limit=\"handshake_rate\"} 7\n"));
    assert_non_null(strstr(text, "\nsioc_limit_refusals_total{limit=\"max_rooms\"} 1\n"));
    assert_non_null(
        strstr(text, "\nsioc_limit_refusals_total{limit=\"max_connections_per_address\"} 0\n"));
    /* every line is a comment or "name[{labels}] value" */
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        char *sp = strrchr(line, ' ');
        assert_non_null(sp);
        assert_true(strspn(sp + 1, "0123456789") == strlen(sp + 1));
    }
    free(text);
    char small[40];
    assert_int_equal(sio_metrics_format(&m, small, sizeof small), need);
    assert_int_equal(strlen(small), sizeof small - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_and_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
