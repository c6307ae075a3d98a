#!/usr/bin/env bash
# HTTP submission: smsgw's Modica `/message` and OpenMarket `/sms/v1/send` against Kannel's `sendsms`.
#
#   bash bench/http_vs_kannel.sh [--seconds N]        (from the repository root; default 10 s per measurement)
#
# Installs Kannel (`kannel`, `kannel-extras`) and `wrk` from Debian when they are missing. Runs Kannel 1.4.5 as
# field-survey §9 measured it (bearerbox with `store-type = file`, the fake SMSC `fakesmsc` as receive-only SMSC,
# smsbox with a sendsms-user; start order bearerbox -> fakesmsc -> smsbox), then `smsgw serve` (granian, its default
# 2 workers, and the delivery worker it starts) on a fresh SQLite database with SMSGW_SMSC=simulator, once per
# endpoint. Every system gets the same load:
# wrk, 2 threads, 16 keep-alive connections, a 1 s warm-up and then N s measured, each request to a different
# destination number (a wrk Lua script counts up per thread), text "hello world", originator 58870.
# Afterwards it checks that every accepted message (2xx answer) is in the store: for smsgw, rows in `messages`; for
# Kannel, messages fakesmsc received (its counter at SIGINT), after bearerbox's queues and store have drained.
# Prints requests/s, p50/p99 latency, the ratio to Kannel, the check, and the load average at start and end.
# Everything listens on 127.0.0.1 (free ports chosen at run time), every process runs under `timeout` in its own
# process group and is stopped at the end, and the temporary directory is removed.
set -euo pipefail

SECONDS_PER_RUN=10
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) SECONDS_PER_RUN="${2:?--seconds needs a number}"; shift 2 ;;
        --seconds=*) SECONDS_PER_RUN="${1#*=}"; shift ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (usage: bash bench/http_vs_kannel.sh [--seconds N])" >&2; exit 2 ;;
    esac
done
[[ "$SECONDS_PER_RUN" =~ ^[1-9][0-9]*$ ]] || { echo "--seconds wants a positive integer" >&2; exit 2; }

THREADS=2
CONNECTIONS=16
WARMUP=1
TEXT="hello+world"
ORIGINATOR=58870
PROBE_TO=447499999999   # the first request to each system, before the load (outside the load's numbers)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_BIN="$ROOT/.venv/bin"
HELPER=("$VENV_BIN/python" "$ROOT/bench/http_vs_kannel.py")
FAKESMSC=/usr/lib/kannel/test/fakesmsc
LIMIT=$((SECONDS_PER_RUN * 3 + 120))   # the most any daemon may live; wrk gets its own, tighter bound
# shellcheck source=bench/processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/processes.sh"   # log, start, stop, until_ok, answers

# --- what it needs ------------------------------------------------------------------------------------------------
if ! command -v wrk >/dev/null || ! command -v bearerbox >/dev/null || ! command -v smsbox >/dev/null \
        || [[ ! -x "$FAKESMSC" ]]; then
    log "installing kannel, kannel-extras and wrk from Debian"
    SUDO=(); [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
    "${SUDO[@]}" apt-get update -q
    # Debian's package starts its own Kannel (WAP-only /etc/kannel/kannel.conf) where services may start; the ports
    # below are chosen free at run time, so that one, if running, does not get in the way.
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q kannel kannel-extras wrk
fi
PATH="$PATH:/usr/sbin:/sbin"   # bearerbox and smsbox live in /usr/sbin
if [[ ! -x "$VENV_BIN/smsgw" ]]; then
    log "setting up .venv (make .venv/.installed)"
    make -C "$ROOT" .venv/.installed >&2
fi

# --- processes and clean-up ---------------------------------------------------------------------------------------
WORK="$(mktemp -d /tmp/http_vs_kannel.XXXXXX)"

cleanup() {
    local status=$? g
    trap - EXIT INT TERM
    for g in "${GROUPS_STARTED[@]+"${GROUPS_STARTED[@]}"}"; do stop "$g"; done
    for g in "$WORK"/*.pid; do [[ -f "$g" ]] && stop "$(cat "$g")"; done
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fake_online() { "${HELPER[@]}" fetch "$1" | grep -q 'FAKE.*(online'; }

# --- the load: wrk with a Lua script that puts a new destination into every request ---------------------------------
LUA="$WORK/vary_destination.lua"
cat >"$LUA" <<EOF
-- Each request gets its own destination: {TO} in the path template (the first argument) becomes a UK mobile number
-- (+44 74xx: every one valid) counting up from 4474 0000 0000 + the second argument, 50 million apart per wrk thread.
local count = 0
function setup(thread)
  thread:set("tid", count)
  count = count + 1
end
local prefix, suffix, base, n
function init(args)
  prefix, suffix = args[1]:match("^(.-){TO}(.*)$")
  base = 447400000000 + tid * 50000000 + tonumber(args[2])
  n = 0
end
function request()
  n = n + 1
  return wrk.format("GET", prefix .. string.format("%.0f", base + n) .. suffix)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "connections": $CONNECTIONS}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
EOF

# load NAME BASE_URL PATH_TEMPLATE SECONDS OFFSET [LABEL=PGID...]: prints wrk's JSON line (wrk's whole output is
# kept in $WORK/NAME.wrk). The warm-up counts its destinations from OFFSET 40,000,000 so that they differ from the
# measured run's. With LABEL=PGID arguments, the CPU used by those process groups and by wrk during the run goes to
# $WORK/NAME.cpu.
load() {
    local name="$1" base="$2" template="$3" secs="$4" offset="$5"; shift 5
    timeout -k 5 $((secs + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" -s "$LUA" "$base" -- "$template" \
        "$offset" >"$WORK/$name.wrk" 2>&1 </dev/null &
    local wrk_pid=$!
    echo "$wrk_pid" >"$WORK/$name.pid"   # for the clean-up, should this shell be interrupted
    if [[ $# -gt 0 ]]; then
        sleep 0.5
        "${HELPER[@]}" cpu $((secs > 2 ? secs - 1 : 1)) "wrk=$wrk_pid" "$@" >"$WORK/$name.cpu" || true
    fi
    wait "$wrk_pid" || { cat "$WORK/$name.wrk" >&2; return 1; }
    rm -f "$WORK/$name.pid"
    grep '^WRKJSON ' "$WORK/$name.wrk" | sed 's/^WRKJSON //'
}
json_field() { sed -E "s/.*\"$2\": ([0-9]+).*/\\1/" <<<"$1"; }
accepted_of() { echo $(($(json_field "$1" requests) - $(json_field "$1" non2xx))); }

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
BUSY_START="$("${HELPER[@]}" cpu 2)"   # % of one CPU that other processes used over 2 s before anything starts
log "load average at start: $LOAD_START; other processes busy ${BUSY_START}% of one CPU; $(nproc) CPUs;" \
    "wrk -t$THREADS -c$CONNECTIONS, ${WARMUP}s warm-up + ${SECONDS_PER_RUN}s"

# --- Kannel -------------------------------------------------------------------------------------------------------
run_kannel() {
    local ports admin smsbox_port sendsms fake
    mapfile -t ports < <("${HELPER[@]}" ports 4)
    admin=${ports[0]} smsbox_port=${ports[1]} sendsms=${ports[2]} fake=${ports[3]}
    local dir="$WORK/kannel"; mkdir -p "$dir"
    cat >"$dir/kannel.conf" <<EOF
group = core
admin-port = $admin
admin-interface = 127.0.0.1
admin-password = bar
smsbox-port = $smsbox_port
smsbox-interface = 127.0.0.1
store-type = file
store-location = $dir/kannel.store

group = smsc
smsc = fake
port = $fake
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $smsbox_port
sendsms-port = $sendsms
sendsms-interface = 127.0.0.1

group = sendsms-user
username = tester
password = foobar
EOF
    local status_url="http://127.0.0.1:$admin/status.txt?password=bar"
    local bb fs sb
    start "$dir/bearerbox.log" bearerbox -v 2 "$dir/kannel.conf"; bb=$STARTED
    until_ok 20 answers "$status_url" || { tail -n 20 "$dir/bearerbox.log" >&2; return 1; }
    # -m 0: send no MO, only receive; -v 1: no DEBUG line per received message (it prints its counts on SIGINT).
    start "$dir/fakesmsc.log" "$FAKESMSC" -v 1 -H 127.0.0.1 -r "$fake" -m 0 "1 2 text x"; fs=$STARTED
    until_ok 20 fake_online "$status_url" || { tail -n 20 "$dir/fakesmsc.log" "$dir/bearerbox.log" >&2; return 1; }
    start "$dir/smsbox.log" smsbox -v 2 "$dir/kannel.conf"; sb=$STARTED
    local base="http://127.0.0.1:$sendsms"
    local template="/cgi-bin/sendsms?username=tester&password=foobar&from=$ORIGINATOR&to={TO}&text=$TEXT"
    until_ok 20 answers "$base/cgi-bin/sendsms" || { tail -n 20 "$dir/smsbox.log" >&2; return 1; }
    local probe; probe=$("${HELPER[@]}" get "$base${template/\{TO\}/$PROBE_TO}")
    log "Kannel sendsms answers: $probe"
    local warm=0
    [[ "${probe:0:1}" == 2 ]] && warm=1
    local warm_json run_json
    warm_json=$(load kannel-warm "$base" "$template" "$WARMUP" 40000000)
    warm=$((warm + $(accepted_of "$warm_json")))
    log "Kannel sendsms: measuring ${SECONDS_PER_RUN}s"
    run_json=$(load kannel "$base" "$template" "$SECONDS_PER_RUN" 0 bearerbox="$bb" smsbox="$sb" fakesmsc="$fs")
    # Let bearerbox hand everything to fakesmsc: its queues empty and its sent counter still for a second.
    local last=-1 now queued store i
    for ((i = 0; i < 120; i++)); do
        "${HELPER[@]}" fetch "$status_url" >"$dir/status.txt"
        read -r now queued store < <("${HELPER[@]}" kannel-sent "$dir/status.txt")
        [[ "$now" == "$last" && "$queued" == 0 ]] && break
        last=$now
        sleep 0.5
    done
    log "Kannel drained: bearerbox sent $now, queued $queued, store size $store"
    stop "$fs" INT
    local received
    received=$(sed -nE 's/.*fakesmsc: ([0-9]+) messages sent and ([0-9]+) received.*/\2/p' "$dir/fakesmsc.log")
    [[ -n "$received" ]] || { tail -n 5 "$dir/fakesmsc.log" >&2; received=-1; }
    stop "$sb"
    stop "$bb"
    local note
    note="fakesmsc received $received, bearerbox sent $now with store size $store after draining; $(cat "$WORK/kannel.cpu")"
    printf 'Kannel\t/cgi-bin/sendsms\t%s\t%s\t%s\t%s\n' "$run_json" "$received" "$warm" "$note" >>"$RESULTS"
}

# --- smsgw --------------------------------------------------------------------------------------------------------
run_smsgw() {
    local endpoint="$1" template="$2"
    local slug="${endpoint//[^A-Za-z]/}"
    local dir="$WORK/smsgw-$slug"; mkdir -p "$dir"
    local url="sqlite:///$dir/smsgw.db" port
    port=$("${HELPER[@]}" ports 1)
    "$VENV_BIN/smsgw" --database-url "$url" account add bench --password benchpw --default-country GB \
        --default-originator "$ORIGINATOR" >"$dir/account.log" 2>&1 || { cat "$dir/account.log" >&2; return 1; }
    local gw
    start "$dir/serve.log" "$VENV_BIN/smsgw" --database-url "$url" serve --listen "127.0.0.1:$port"; gw=$STARTED
    local base="http://127.0.0.1:$port"
    until_ok 60 answers_200 "$base/healthz" || { tail -n 30 "$dir/serve.log" >&2; stop "$gw"; return 1; }
    local probe; probe=$("${HELPER[@]}" get "$base${template/\{TO\}/$PROBE_TO}")
    log "smsgw $endpoint answers: $probe"
    if [[ "${probe:0:3}" != 200 ]]; then
        local why="HTTP ${probe:0:3} to a valid request (${probe:4})"
        [[ "${probe:0:3}" == 404 ]] && why="HTTP 404: this face is not registered in service/smsgw/facade.py yet"
        stop "$gw"
        printf 'smsgw\t%s\t-\t-\t0\t%s\n' "$endpoint" "$why" >>"$RESULTS"
        return 0
    fi
    local warm_json run_json
    warm_json=$(load "$slug-warm" "$base" "$template" "$WARMUP" 40000000)
    log "smsgw $endpoint: measuring ${SECONDS_PER_RUN}s"
    run_json=$(load "$slug" "$base" "$template" "$SECONDS_PER_RUN" 0 smsgw="$gw")
    stop "$gw"   # graceful: requests in flight finish before the count
    local rows recipients
    read -r rows recipients < <("${HELPER[@]}" stored "$dir/smsgw.db")
    local warm=$((1 + $(accepted_of "$warm_json")))
    printf 'smsgw\t%s\t%s\t%s\t%s\t%s\n' "$endpoint" "$run_json" "$rows" "$warm" \
        "$rows rows in messages, $recipients distinct recipients; $(cat "$WORK/$slug.cpu")" >>"$RESULTS"
}

log "Kannel: bearerbox (store-type=file) -> fakesmsc -> smsbox"
run_kannel
log "smsgw: granian, 2 workers, fresh SQLite database per endpoint, SMSGW_SMSC=simulator"
export SMSGW_SMSC=simulator
run_smsgw "Modica /message" \
    "/message?application=bench&password=benchpw&destination=%2B{TO}&content=$TEXT&version=2"
run_smsgw "OpenMarket /sms/v1/send" \
    "/sms/v1/send?user=bench&pass=benchpw&smsto={TO}&smsfrom=$ORIGINATOR&smsmsg=$TEXT"

LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "HTTP submission, wrk -t$THREADS -c$CONNECTIONS keep-alive, ${SECONDS_PER_RUN}s per row after a ${WARMUP}s warm-up," \
     "one destination per request, 127.0.0.1, $(nproc) CPUs shared by server and wrk"
echo
"${HELPER[@]}" table "$RESULTS"
echo
echo "  Kannel 1.4.5: bearerbox store-type=file, fake SMSC (fakesmsc, receive only); smsbox sendsms. The check counts"
echo "    what fakesmsc received. smsgw: granian 2 workers and serve's delivery worker, SQLite (WAL),"
echo "    SMSGW_SMSC=simulator: messages are delivered to the simulator while the load runs, as Kannel delivers to"
echo "    fakesmsc. The check counts rows in messages. Stored may exceed accepted by requests in flight when wrk"
echo "    stopped (at most 2 x connections)."
echo "  load average (1/5/15 min): start $LOAD_START, end $LOAD_END; CPU used by other processes in the 2 s before"
echo "    the start: ${BUSY_START}% of one CPU"
if ((BUSY_START > 25)); then
    echo "  WARNING: the machine was already busy at the start: the figures are lower than on a quiet machine and the"
    echo "    ratios less reliable; run again when it is idle."
fi
