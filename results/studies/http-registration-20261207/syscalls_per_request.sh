#!/bin/bash
# System calls (and server CPU, context switches) per request of switchyard_http_server
# under wrk (README.md in this folder). Needs perf with tracepoints (root) and wrk.
# usage: syscalls_per_request.sh BIN TASKMASTER CONNS [extra server args...]
set -u
BIN=$1; TM=$2; C=$3; shift 3
W=$(mktemp -d)
OUT=$W/server.out
$BIN --taskmaster $TM --carriers 2 "$@" > $OUT 2>&1 &
SP=$!
for i in $(seq 100); do grep -q LISTENING $OUT && break; sleep 0.05; done
PORT=$(grep LISTENING $OUT | awk '{print $2}')
wrk -t2 -c$C -d1s http://127.0.0.1:$PORT/ >/dev/null 2>&1   # warm-up
EV=task-clock,raw_syscalls:sys_enter,context-switches,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_epoll_pwait2,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_write,syscalls:sys_enter_futex,instructions:u,instructions:k
perf stat -x, -e $EV -p $SP -o $W/perf &
PP=$!
sleep 0.2
wrk -t2 -c$C -d3s http://127.0.0.1:$PORT/ > $W/wrk 2>&1
kill -INT $PP; wait $PP
REQ=$(grep -E '^ +[0-9]+ requests' $W/wrk | awk '{print $1}')
grep Requests/sec $W/wrk
kill -TERM $SP; wait $SP 2>/dev/null
echo "requests $REQ"
# task-clock is in ms: its per-request value times 1000 is us of server CPU per request.
awk -F, -v r=$REQ '/^[0-9]/{printf "%-40s %12s  %.4f/req\n",$3,$1,$1/r}' $W/perf
rm -rf $W
