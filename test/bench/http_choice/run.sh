#!/usr/bin/env bash
# Measures the two HTTP library candidates for `lethe serve` with wrk: the same
# POST /echo server written with cpp-httplib and with Boost.Beast.
#   ninja -C build http_choice_httplib http_choice_beast
#   test/bench/http_choice/run.sh [BIN_DIR]       (BIN_DIR: build/test)
# DURATION (10s) and CONNS ("16 64") may be overridden from the environment.
# Raw wrk and server output stays in a /tmp/http_choice.* folder (printed).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
BIN="${1:-$ROOT/build/test}"
DURATION="${DURATION:-10s}"
read -r -a CONNS <<<"${CONNS:-16 64}"
LOG="$(mktemp -d /tmp/http_choice.XXXXXX)"
LIBS=(httplib beast)
declare -A EXE=([httplib]=http_choice_httplib [beast]=http_choice_beast)
declare -A PORT=([httplib]=18081 [beast]=18082)
declare -A R      # R[lib,c,field] from post.lua's RESULT line; R[lib,rss|threads]

server_pid=""
cleanup() { [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

for lib in "${LIBS[@]}"; do
  [[ -x "$BIN/${EXE[$lib]}" ]] || { echo "missing $BIN/${EXE[$lib]}: build it first" >&2; exit 1; }
  if (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$lib]}") 2>/dev/null; then
    echo "port ${PORT[$lib]} is already in use" >&2; exit 1
  fi
done

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "server never listened on port $1" >&2
  return 1
}

for lib in "${LIBS[@]}"; do
  port=${PORT[$lib]}
  url="http://127.0.0.1:$port/echo"
  "$BIN/${EXE[$lib]}" "$port" >"$LOG/$lib.server.log" 2>&1 &
  server_pid=$!
  wait_port "$port"

  reply="$(curl -sS -X POST -H 'Content-Type: application/json' --data-binary '{"a":1}' "$url")"
  if [[ "$reply" != '{"ok":true,"n":7}' ]]; then
    echo "$lib: unexpected reply '$reply'" >&2; exit 1
  fi

  echo "== $lib (pid $server_pid, port $port)"
  wrk -t2 -c16 -d2s -s "$HERE/post.lua" "$url" >"$LOG/$lib.warmup.txt"   # not counted
  for c in "${CONNS[@]}"; do
    wrk -t2 -c"$c" -d"$DURATION" --latency -s "$HERE/post.lua" "$url" | tee "$LOG/$lib.c$c.txt" |
      grep -E 'Requests/sec|Socket errors|Non-2xx|RESULT' | sed 's/^/   c='"$c"': /'
    line="$(grep '^RESULT' "$LOG/$lib.c$c.txt")"
    for kv in ${line#RESULT }; do R[$lib,$c,${kv%%=*}]=${kv#*=}; done
  done
  R[$lib,rss]=$(awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status")
  R[$lib,threads]=$(awk '/^Threads/ {print $2}' "/proc/$server_pid/status")
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
done

ms() { awk -v us="$1" 'BEGIN { printf "%.3f ms", us / 1000 }'; }
row() { printf '%-28s %16s %16s\n' "$@"; }
echo
echo "wrk -t2 -d$DURATION, POST /echo with a ${R[httplib,${CONNS[0]},body]}-byte JSON body, keep-alive"
row "" httplib beast
for c in "${CONNS[@]}"; do
  row "c=$c requests/s" "${R[httplib,$c,rps]}" "${R[beast,$c,rps]}"
  row "c=$c latency p50" "$(ms "${R[httplib,$c,p50_us]}")" "$(ms "${R[beast,$c,p50_us]}")"
  row "c=$c latency p99" "$(ms "${R[httplib,$c,p99_us]}")" "$(ms "${R[beast,$c,p99_us]}")"
  row "c=$c requests done" "${R[httplib,$c,requests]}" "${R[beast,$c,requests]}"
  row "c=$c socket errors/timeouts" "${R[httplib,$c,errors]}/${R[httplib,$c,timeouts]}" \
      "${R[beast,$c,errors]}/${R[beast,$c,timeouts]}"
  row "c=$c non-2xx" "${R[httplib,$c,non2xx]}" "${R[beast,$c,non2xx]}"
done
row "server RSS after runs" "${R[httplib,rss]} kB" "${R[beast,rss]} kB"
row "server threads" "${R[httplib,threads]}" "${R[beast,threads]}"
row "server source lines" "$(wc -l <"$HERE/httplib_server.cpp")" "$(wc -l <"$HERE/beast_server.cpp")"
row "server binary size" "$(stat -c %s "$BIN/${EXE[httplib]}") B" "$(stat -c %s "$BIN/${EXE[beast]}") B"
echo "raw output: $LOG"
