#!/bin/sh
# Failover convergence: three detour server processes run the example spec
# (policy/testdata/example.yaml) against local HTTP backends on
# 127.0.0.11-13:18080; each trial switches us-east-1 to 503 and measures the
# time until all three nodes answer eu-west-1 for www.example.test.
# TRIALS (default 20) trials; prints p50, p99 and max in ms.
set -eu
cd "$(dirname "$0")/.."
TRIALS="${TRIALS:-20}"
exec go test -run '^$' -bench '^BenchmarkFailoverConvergence$' -benchtime "${TRIALS}x" -timeout 20m -v ./e2e
