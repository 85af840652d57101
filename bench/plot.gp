# Plots of `make bench` (bench/run.sh calls: gnuplot -e "dir='...'; servers='sioc node'; clients='1000'" bench/plot.gp).
# latency.png: broadcast latency (p50 dashed, p99 solid) against offered load;
# memory.png: server RSS against idle connections. Data: <dir>/latency-<server>.dat
# and <dir>/memory-<server>.dat, written by bench/node-ref/report.mjs.
if (!exists("dir")) dir = "bench/results"
if (!exists("servers")) servers = "sioc node"
if (!exists("clients")) clients = "1000"
set terminal pngcairo size 900,560 font ",11"
set grid
set key top left

color(s) = (s eq "sioc") ? "#1f77b4" : "#d62728"

set output dir."/latency.png"
set title "Broadcast latency against offered load (".clients." clients, chat message through SQLite)"
set xlabel "offered deliveries/s"
set ylabel "latency (ms)"
set logscale xy
set format x "%.0s%c"
plot for [s in servers] dir."/latency-".s.".dat" using 1:3 with linespoints lw 2 pt 7 lc rgb color(s) title s." p99", \
     for [s in servers] dir."/latency-".s.".dat" using 1:2 with linespoints lw 1 dt 2 pt 6 lc rgb color(s) title s." p50"

set output dir."/memory.png"
set title "Server RSS against idle WebSocket connections"
set xlabel "connections"
set ylabel "RSS (MB)"
unset logscale
set format x "%g"
set yrange [0:*]
plot for [s in servers] dir."/memory-".s.".dat" using 1:2 with linespoints lw 2 pt 7 lc rgb color(s) title s
