#!/usr/bin/env bash
# bench/dns.sh: detour's DNS server against NSD, side by side on loopback.
#
# Serves the example spec zone plus 10,000 extra A records from detour
# (bench/dnsserve) and from NSD (the same zone, transferred from detour),
# drives each with dnsperf for the same time and query mix (about 90% hits,
# part of them on pool names, 5% NXDOMAIN, 5% NODATA) over UDP and TCP, and
# prints QPS, queries per CPU-second of each server, mean latency, and the
# ratios; then p99 latency at a fixed 20,000 queries/s, measured ROUNDS
# times per server and transport, alternating which server goes first, and
# reported as the median round (a tail at 0.1 ms moves with whatever else
# the machine does in those seconds; one round can be off by 2x).
#
# Usage: bench/dns.sh   (env: DUR=10 seconds per run, CLIENTS=4 dnsperf
#                       clients, THREADS=1 dnsperf threads, OUTSTANDING=200
#                       queries in flight, FIXED_QPS=20000, ROUNDS=5,
#                       NSD_SERVERS=1, ONLY=fixed to skip the throughput runs,
#                       PERF=1 to count context switches, DNSSERVE_ARGS for
#                       bench/dnsserve's flags, DNSSERVE_BIN for a dnsserve
#                       built from another commit)
# detour uses GOMAXPROCS UDP sockets (SO_REUSEPORT); NSD_SERVERS=2 gives NSD
# as many server processes on a 2-core machine.
set -euo pipefail

DUR=${DUR:-10}
CLIENTS=${CLIENTS:-4}
THREADS=${THREADS:-1}       # dnsperf threads
OUTSTANDING=${OUTSTANDING:-200}
FIXED_QPS=${FIXED_QPS:-20000}
ROUNDS=${ROUNDS:-5}
ONLY=${ONLY:-}
PERF=${PERF:-} # 1: count the servers' context switches at the fixed rate (needs perf)
NSD_SERVERS=${NSD_SERVERS:-1} # NSD server processes (Debian's default is 1)
DETOUR_ADDR=127.0.0.1
NSD_ADDR=127.0.0.1
DETOUR_PORT=${DETOUR_PORT:-5391}
NSD_PORT=${NSD_PORT:-5392}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SPEC=${SPEC:-$ROOT/policy/testdata/example.yaml}

need() { # need BINARY PACKAGE
	if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$1" ]; then
		echo "installing $2" >&2
		SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
		$SUDO apt-get install -y -q "$2" >/dev/null
	fi
}
need dnsperf dnsperf
need nsd nsd
need dig bind9-dnsutils
[ "$PERF" = 1 ] && need perf linux-perf
export PATH=$PATH:/usr/sbin

WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${DNSSERVE_BIN:-}" ]; then # a bench/dnsserve built from another commit, to compare
	cp "$DNSSERVE_BIN" "$WORK/dnsserve"
else
	echo "building bench/dnsserve" >&2
	(cd "$ROOT" && go build -o "$WORK/dnsserve" ./bench/dnsserve)
fi
"$WORK/dnsserve" -spec "$SPEC" -addr "$DETOUR_ADDR:$DETOUR_PORT" -extra 10000 ${DNSSERVE_ARGS:-} 2>"$WORK/dnsserve.log" &
DETOUR_PID=$!
PIDS+=("$DETOUR_PID")

wait_dns() { # wait_dns ADDR PORT
	for _ in $(seq 100); do
		if dig +time=1 +tries=1 @"$1" -p "$2" example.test SOA +short 2>/dev/null | grep -q .; then return 0; fi
		sleep 0.1
	done
	echo "no answer from $1:$2" >&2
	return 1
}
wait_dns "$DETOUR_ADDR" "$DETOUR_PORT"
alive() { # alive PID NAME LOG: fail unless PID still runs (another server on the port answers too)
	if ! kill -0 "$1" 2>/dev/null; then
		echo "$2 exited (is its port taken?):" >&2
		cat "$3" >&2
		exit 1
	fi
}
alive "$DETOUR_PID" dnsserve "$WORK/dnsserve.log"

# NSD gets the very zone detour serves (pools as their current answers).
dig @"$DETOUR_ADDR" -p "$DETOUR_PORT" example.test AXFR +nocmd +nostats +nocomments | awk '!seen[$0]++' >"$WORK/example.test.zone"
cat >"$WORK/nsd.conf" <<CONF
server:
	ip-address: $NSD_ADDR
	port: $NSD_PORT
	do-ip6: no
	username: ""
	chroot: ""
	zonesdir: "$WORK"
	database: ""
	zonelistfile: "$WORK/zone.list"
	xfrdfile: "$WORK/xfrd.state"
	xfrdir: "$WORK"
	pidfile: "$WORK/nsd.pid"
	logfile: "$WORK/nsd.log"
	rrl-ratelimit: 0
	server-count: $NSD_SERVERS
	hide-version: yes
remote-control:
	control-enable: no
zone:
	name: example.test.
	zonefile: example.test.zone
CONF
nsd -d -c "$WORK/nsd.conf" &
NSD_PID=$!
PIDS+=("$NSD_PID")
wait_dns "$NSD_ADDR" "$NSD_PORT"
alive "$NSD_PID" nsd "$WORK/nsd.log"

# The query mix: 10,000 lines, deterministic.
awk 'BEGIN {
	srand(42)
	for (i = 0; i < 10000; i++) {
		x = rand()
		if (x < 0.70)      printf "r%d.example.test A\n", int(rand() * 10000)
		else if (x < 0.75) print "www.example.test A"
		else if (x < 0.78) print "api.example.test A"
		else if (x < 0.81) print "all.example.test A"
		else if (x < 0.84) print "mail.example.test A"
		else if (x < 0.86) print "docs.example.test A"
		else if (x < 0.88) print "example.test MX"
		else if (x < 0.90) print "example.test NS"
		else if (x < 0.95) printf "nx%d.example.test A\n", int(rand() * 100000)
		else if (x < 0.98) printf "r%d.example.test AAAA\n", int(rand() * 10000)
		else               print "www.example.test TXT"
	}
}' >"$WORK/queries.txt"

TCK=$(getconf CLK_TCK)
descendants() { # descendants PID: PID and every process below it
	local p
	echo "$1"
	for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do descendants "$p"; done
}
cpu_ticks() { # cpu_ticks PID: user+system ticks of PID and its descendants
	local t=0 p
	for p in $(descendants "$1"); do
		if [ -r "/proc/$p/stat" ]; then
			# fields after the ")" closing the command name (NSD's have spaces)
			t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
		fi
	done
	echo "$t"
}

# run NAME PID PORT MODE: prints "qps cpu_seconds mean_ms lost"
run() {
	local before after out
	before=$(cpu_ticks "$2")
	out=$(dnsperf -m "$4" -s 127.0.0.1 -p "$3" -d "$WORK/queries.txt" -l "$DUR" -c "$CLIENTS" -T "$THREADS" -q "$OUTSTANDING" 2>&1)
	after=$(cpu_ticks "$2")
	echo "$out" >"$WORK/dnsperf-$1-$4.txt"
	local qps mean lost
	qps=$(echo "$out" | awk '/Queries per second/ {print $4; exit}')
	mean=$(echo "$out" | awk '/Average Latency/ {print $4 * 1000; exit}')
	lost=$(echo "$out" | awk '/Queries lost/ {print $3; exit}')
	echo "$qps $(awk -v t=$((after - before)) -v h="$TCK" 'BEGIN {print t / h}') $mean $lost"
}

# fixed NAME PORT MODE PID: "p99 mean replies cpu_us cs" at FIXED_QPS:
# p99 and mean latency (ms), replies, the server's CPU time per reply
# (µs) and, with PERF=1, its context switches per reply (else "-").
fixed() {
	local before after out cs=- pids perf_pid p99 mean n
	before=$(cpu_ticks "$4")
	if [ "$PERF" = 1 ]; then
		pids=$(descendants "$4" | paste -sd,)
		perf stat -x, -e context-switches -p "$pids" -o "$WORK/perf.txt" -- sleep "$DUR" 2>/dev/null &
		perf_pid=$!
	fi
	out=$(dnsperf -m "$3" -s 127.0.0.1 -p "$2" -d "$WORK/queries.txt" -l "$DUR" -Q "$FIXED_QPS" -c "$CLIENTS" -v 2>/dev/null |
		awk '/^> / {print $NF * 1000}' | sort -n |
		awk '{a[NR] = $1; s += $1} END {i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f %.3f %d\n", a[i], s / NR, NR}')
	after=$(cpu_ticks "$4")
	if [ "$PERF" = 1 ]; then
		wait "$perf_pid"
		cs=$(awk -F, '/context-switches/ {print $1; exit}' "$WORK/perf.txt")
	fi
	read -r p99 mean n <<<"$out"
	awk -v p="$p99" -v m="$mean" -v n="$n" -v t=$((after - before)) -v h="$TCK" -v cs="$cs" \
		'BEGIN {printf "%s %s %d %.1f %s\n", p, m, n, (n > 0 ? t / h / n * 1e6 : 0), (cs == "-" || n == 0 ? "-" : sprintf("%.2f", cs / n))}'
}

echo "running: ${DUR}s per run, $CLIENTS clients, $THREADS dnsperf threads, $OUTSTANDING outstanding, same query file for both servers, NSD server-count $NSD_SERVERS, $ROUNDS fixed-rate rounds, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
declare -A R F
if [ "$ONLY" != fixed ]; then
	for mode in udp tcp; do
		R[detour-$mode]=$(run detour "$DETOUR_PID" "$DETOUR_PORT" "$mode")
		R[nsd-$mode]=$(run nsd "$NSD_PID" "$NSD_PORT" "$mode")
	done
fi
# Fixed rate: ROUNDS rounds, the server going first alternating.
for mode in udp tcp; do
	for r in $(seq "$ROUNDS"); do
		if [ $((r % 2)) = 1 ]; then order="detour nsd"; else order="nsd detour"; fi
		for s in $order; do
			if [ "$s" = detour ]; then port=$DETOUR_PORT pid=$DETOUR_PID; else port=$NSD_PORT pid=$NSD_PID; fi
			F[$s-$mode-$r]=$(fixed "$s" "$port" "$mode" "$pid")
		done
		echo "round $r $mode: detour p99 $(echo "${F[detour-$mode-$r]}" | cut -d' ' -f1) ms, nsd p99 $(echo "${F[nsd-$mode-$r]}" | cut -d' ' -f1) ms" >&2
	done
done
# median S MODE FIELD: the median over rounds of field FIELD (1 p99, 2 mean,
# 3 replies, 4 CPU µs per reply, 5 context switches per reply)
median() {
	local r
	for r in $(seq "$ROUNDS"); do echo "${F[$1-$2-$r]}" | cut -d' ' -f"$3"; done |
		sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}

if [ "$ONLY" != fixed ]; then
	echo
	echo "| transport | server | QPS | CPU s | queries per CPU-second | mean latency (ms) | lost |"
	echo "|---|---|---:|---:|---:|---:|---:|"
	for mode in udp tcp; do
		for s in detour nsd; do
			read -r qps cpu mean lost <<<"${R[$s-$mode]}"
			awk -v m="$mode" -v s="$s" -v q="$qps" -v c="$cpu" -v l="$mean" -v x="$lost" -v d="$DUR" \
				'BEGIN {printf "| %s | %s | %.0f | %.2f | %.0f | %.3f | %s |\n", m, s, q, c, (c > 0 ? q * d / c : 0), l, x}'
		done
	done
	echo
	echo "| transport | detour/NSD QPS | detour/NSD queries per CPU-second |"
	echo "|---|---:|---:|"
	for mode in udp tcp; do
		read -r dq dc _ _ <<<"${R[detour-$mode]}"
		read -r nq nc _ _ <<<"${R[nsd-$mode]}"
		awk -v m="$mode" -v dq="$dq" -v dc="$dc" -v nq="$nq" -v nc="$nc" \
			'BEGIN {printf "| %s | %.2f | %.2f |\n", m, dq / nq, (dc > 0 && nc > 0 ? (dq / dc) / (nq / nc) : 0)}'
	done
fi
echo
echo "| at $FIXED_QPS qps, median of $ROUNDS rounds | server | p99 (ms) | mean (ms) | replies | CPU µs per reply | context switches per reply | detour/NSD p99 |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for mode in udp tcp; do
	dp99=$(median detour "$mode" 1)
	np99=$(median nsd "$mode" 1)
	echo "| $mode | detour | $dp99 | $(median detour "$mode" 2) | $(median detour "$mode" 3) | $(median detour "$mode" 4) | $(median detour "$mode" 5) | $(awk -v d="$dp99" -v n="$np99" 'BEGIN {printf "%.2f", (n > 0 ? d / n : 0)}') |"
	echo "| $mode | nsd | $np99 | $(median nsd "$mode" 2) | $(median nsd "$mode" 3) | $(median nsd "$mode" 4) | $(median nsd "$mode" 5) | |"
done
echo
echo "| round | transport | detour p99 (ms) | nsd p99 (ms) | ratio |"
echo "|---:|---|---:|---:|---:|"
for mode in udp tcp; do
	for r in $(seq "$ROUNDS"); do
		d=$(echo "${F[detour-$mode-$r]}" | cut -d' ' -f1)
		n=$(echo "${F[nsd-$mode-$r]}" | cut -d' ' -f1)
		echo "| $r | $mode | $d | $n | $(awk -v d="$d" -v n="$n" 'BEGIN {printf "%.2f", (n > 0 ? d / n : 0)}') |"
	done
done
