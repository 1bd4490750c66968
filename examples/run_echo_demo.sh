#!/usr/bin/env bash
# examples/run_echo_demo.sh SERVER CLIENT BACKEND — start the echo server on a free port,
# run the client against it, stop the server. Used by `make demo` and CTest.
set -euo pipefail
server=$1 client=$2 backend=$3
out=$(mktemp)
"$server" --backend "$backend" --port 0 >"$out" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$out")
[ -n "$port" ] || { echo "server did not start"; cat "$out"; exit 1; }
cat "$out"
"$client" --backend "$backend" --port "$port" --messages 2000 --size 1024
kill -TERM $pid
wait $pid
