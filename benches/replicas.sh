#!/usr/bin/env bash
# Replica benchmark: cached-request throughput with L1 only vs L1+L2 (Redis), and OBO
# exchanges per 1000 users with 1 replica, 3 replicas without Redis and 3 sharing Redis.
# Real processes: redis-server, gateway binaries, in-process simulators (see tests/it/replicas_bench.rs).
#
#   benches/replicas.sh                      # release build, 4000 requests, 1000 users
#   NAA_BENCH_PROFILE=dev benches/replicas.sh  # quicker to build, slower to run
#   NAA_BENCH_REQUESTS=8000 NAA_BENCH_USERS=1000 NAA_BENCH_CONCURRENCY=32 benches/replicas.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-server >/dev/null || { echo "redis-server is required (apt-get install -y redis-server)" >&2; exit 1; }
profile=(--release)
[ "${NAA_BENCH_PROFILE:-release}" = "dev" ] && profile=()
cargo test "${profile[@]}" --test it replicas::bench::replicas_bench -- --ignored --nocapture --exact 2>&1 \
  | grep -E '^(cached|OBO|  |\{)' 
