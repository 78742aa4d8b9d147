#!/usr/bin/env bash
# Run a local three-node detour cluster on 127.0.0.1, apply the example spec
# and wait. Ctrl-C stops every node and removes the data dirs.
#
#   node   DNS (udp+tcp)     API                     Raft
#   node1  127.0.0.1:5301    http://127.0.0.1:8053   127.0.0.1:8054  (bootstrap)
#   node2  127.0.0.1:5302    http://127.0.0.1:8063   127.0.0.1:8064  (joins node1)
#   node3  127.0.0.1:5303    http://127.0.0.1:8073   127.0.0.1:8074  (joins node1)
#
# DETOUR=path/to/detour uses that binary instead of building one.
# SPEC=path/to/spec.yaml applies another spec (default policy/testdata/example.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d -t detour-cluster.XXXXXX)"
pids=()
cleanup() {
	trap - EXIT
	if [ "${#pids[@]}" -gt 0 ]; then
		echo
		echo "stopping nodes: ${pids[*]}"
		kill "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
	rm -rf "$work"
	echo "removed $work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

detour="${DETOUR:-}"
if [ -z "$detour" ]; then
	echo "building detour..."
	CGO_ENABLED=0 go build -trimpath -o "$work/detour" ./cmd/detour
	detour="$work/detour"
fi

start_node() { # start_node N REGION [server flags...]
	local n="$1" region="$2"
	shift 2
	local api="127.0.0.1:80$((n + 4))3" raft="127.0.0.1:80$((n + 4))4" dns="127.0.0.1:530$n"
	"$detour" server --node-id "node$n" --region "$region" --data-dir "$work/node$n" \
		--dns-addr "$dns" --api-addr "$api" --raft-addr "$raft" "$@" \
		>"$work/node$n.log" 2>&1 &
	pids+=("$!")
	echo "node$n ($region): dns $dns, api http://$api, raft $raft, log $work/node$n.log"
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
	local secs="$1" what="$2"
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "timed out waiting for $what; logs in $work:" >&2
			tail -n 20 "$work"/node*.log >&2 || true
			exit 1
		fi
		sleep 0.2
	done
}

three_members() {
	[ "$("$detour" members --api http://127.0.0.1:8053 -o json | grep -c '"id"')" -eq 3 ]
}

start_node 1 us-east-1 --bootstrap
wait_for 20 "node1 to be ready" "$detour" healthcheck --ready --api http://127.0.0.1:8053
start_node 2 eu-west-1 --join http://127.0.0.1:8053
start_node 3 ap-south-1 --join http://127.0.0.1:8053
wait_for 30 "three members" three_members
echo
"$detour" members --api http://127.0.0.1:8053

spec="${SPEC:-policy/testdata/example.yaml}"
if [ -f "$spec" ]; then
	echo
	echo "applying $spec through node2 (a follower forwards to the leader):"
	"$detour" apply -f "$spec" --api http://127.0.0.1:8063
fi

cat <<EOT

The cluster is running. Try:
  dig @127.0.0.1 -p 5301 www.example.test A +norec
  dig @127.0.0.1 -p 5302 example.test SOA +norec
  $detour status --api http://127.0.0.1:8073
  $detour members --api http://127.0.0.1:8053
  $detour apply -f $spec --dry-run --api http://127.0.0.1:8053
  curl -s http://127.0.0.1:8053/v1/spec

Press Ctrl-C to stop every node and remove $work.
EOT
wait "${pids[@]}"
