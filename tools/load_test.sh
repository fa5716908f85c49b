#!/usr/bin/env bash
# Load test of the pose pipeline over HTTP: POST /v1/measurements (front + side photo, so two pose
# pipelines per request) on loopback with wrk (Debian package `wrk`), batching on and off.
#
# Usage (from the repository root, after `cargo build --release`):
#   [BATCHES="1 8"] tools/load_test.sh [SECONDS=30] [CONNECTIONS=8]
# Prints, per setting, wrk's throughput, p50/p90/p99 latency and the server's peak memory. The server runs with a fresh
# SQLite file, rate limiting off, and the models from ./models (fetched if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN=${1:-30}
CONNECTIONS=${2:-8}
BIN=${ATELIER_BIN:-target/release/atelier}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
[ -x "$BIN" ] || { echo "$BIN is missing: cargo build --release" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
export DATABASE_URL="sqlite://$WORK/load.db?mode=rwc"
export API_KEY=$("$BIN" keys create --tenant load-test --role shop 2>/dev/null)
export BOUNDARY=atelierloadtest
export BODY_FILE=$WORK/body
python3 - "$BODY_FILE" "$BOUNDARY" <<'PY'
import sys
path, b = sys.argv[1], sys.argv[2].encode()
parts = [(b"front", "tests/fixtures/vision/saif_front.png"), (b"side", "tests/fixtures/vision/left_profile.png")]
out = b""
for name, file in parts:
    out += b"--" + b + b'\r\nContent-Disposition: form-data; name="' + name + b'"; filename="' + name + b'.png"\r\n'
    out += b"Content-Type: image/png\r\n\r\n" + open(file, "rb").read() + b"\r\n"
for name, value in [(b"height_cm", b"175"), (b"sex", b"male")]:
    out += b"--" + b + b'\r\nContent-Disposition: form-data; name="' + name + b'"\r\n\r\n' + value + b"\r\n"
open(path, "wb").write(out + b"--" + b + b"--\r\n")
PY

for BATCH in ${BATCHES:-1 8}; do
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  ATELIER_ADDR=127.0.0.1:$PORT ATELIER_MAX_BATCH=$BATCH ATELIER_RATE_LIMIT_PER_MINUTE=0 \
    ATELIER_LOG=warn "$BIN" serve 2>"$WORK/serve.log" &
  SERVER=$!
  for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "ATELIER_MAX_BATCH=$BATCH, $CONNECTIONS connections, ${SECONDS_RUN}s:"
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_RUN}s" --timeout 30s -s tools/wrk_post.lua \
    "http://127.0.0.1:$PORT/v1/measurements" | tail -1
  grep -h 'atelier_batch_size_sum{model="pose_landmark_full"}\|atelier_batch_size_count{model="pose_landmark_full"}' \
    <(curl -s "http://127.0.0.1:$PORT/metrics") || true
  echo "server peak memory (VmHWM): $(awk '/VmHWM/ {print $2 / 1024 " MiB"}' /proc/$SERVER/status)"
  kill -TERM $SERVER
  wait $SERVER 2>/dev/null || true
done
