#!/usr/bin/env bash
# Delivery reports out: receipts in from one SMPP SMSC peer to one HTTP GET per report at a callback receiver, per
# second, Kannel's dlr-url path against smsgw's outbox (Modica format), in the same run. N messages (default 20,000).
#
#   bash bench/reports.sh [--messages N] [--system kannel|smsgw|both] [--queued | --backlog] [--peer asyncio|smpp34]
#                         [--receiver-check] [--keep]
#
# The SMSC peer is bench/smpp_peer.py: it accepts every submit_sm and sends a delivery receipt (deliver_sm,
# stat:DELIVRD) for each that asks for one, 0.1 s after it at the earliest, 10 deliver_sm in flight per session. Its
# default engine is plain asyncio (about 27k msg/s with receipts here); --peer smpp34 runs it on smpp34.Server, which
# tops out near 3k msg/s on this machine and so would measure itself, not the gateways.
# The callback receiver is nginx (Debian), one worker, HTTP/1.1 keep-alive, answering 200 "OK" and logging each
# callback as `$msec $arg_id $arg_status $status` (buffered, flushed every second; $msec is the request's end).
# --receiver-check first measures it alone with wrk (-c8 as smsgw's outbox, -c64), to show it is not the limit.
#   Kannel 1.4.5 (kannel, kannel-extras, wrk and nginx installed from Debian when missing): bearerbox with
#     `store-type = file`, `dlr-storage = internal` (the DLRs waiting for their receipt are kept in memory only) and
#     `smsc = smpp` to the peer (transceiver, `max-pending-submits = 10`); smsbox with a sendsms-user (its defaults:
#     up to 512 HTTP requests in flight). Messages go in through /cgi-bin/sendsms with dlr-mask=1 (success only) and
#     dlr-url=http://127.0.0.1:RECEIVER/kannel?id=<destination>&status=%d (%d: the DLR type, 1 = delivered): one GET
#     per receipt, from smsbox.
#   smsgw: a fresh SQLite database; `smsgw account add bench --report-format modica --dlr-url
#     http://127.0.0.1:RECEIVER/smsgw`; `smsgw serve --smsc smpp://bench:bench@127.0.0.1:PEER?window=10` (granian, 2
#     workers, the delivery worker and the outbox beside it); messages in through the Modica face, POST /message
#     (which asks for reports). A receipt is an inbox row when the worker acknowledges it, and becomes a reports row
#     in the transaction that moves its message to delivered; the outbox claims due rows, sends one GET per report
#     (`?id=<message id>&status=received`, at most 8 in flight to one endpoint) and marks them done: every report is
#     durable before it is sent and until the customer's 2xx.
# The feed is wrk (2 threads, 16 keep-alive connections), a new destination per request (a Lua script counts up),
# stopping once exactly N requests were accepted. By default the peer is up while the messages are fed, so nothing
# can go faster than the feed. With --queued it starts only once all are fed (bearerbox queues them, reconnecting
# every second; smsgw runs `serve --no-worker`, its outbox already up, and then `smsgw worker`): what is measured is
# then the SMPP drain, the receipts and the callbacks alone. With --backlog (queued too) the report sender is down
# while the receipts come in (Kannel: smsbox is stopped after the feed, and bearerbox keeps the reports for it; smsgw:
# `serve --no-worker --no-outbox`, then `smsgw worker` until all N reports are rows) and starts only then: callbacks/s
# is then the sender alone working off N reports, and end-to-end runs from its start.
# Figures: receipts/s = receipts acknowledged at the peer / (last acknowledgement - first receipt sent); callbacks/s =
# callbacks / (last - first callback at the receiver); end-to-end = last callback - first receipt sent (--backlog:
# - the sender's start). Checks: every message called back exactly once (N distinct ids, no duplicates; for smsgw the
# ids are exactly the messages' ids), every receipt acknowledged, Kannel with no DLR left waiting, smsgw's reports all
# `done`. The CPU of every process is sampled twice a second and shown for the stretch that end-to-end covers.
# Everything listens on 127.0.0.1 (free ports chosen at run time), every process runs under `timeout` in its own
# process group and is stopped at the end, and the temporary directory is removed (--keep keeps it, for its logs).
# Exits 1 when a check failed (the table is printed all the same).
set -euo pipefail

MESSAGES=20000
SYSTEMS=both
RECEIVER_CHECK=0
KEEP=0
ENGINE=asyncio
QUEUED=0
BACKLOG=0
usage="usage: bash bench/reports.sh [--messages N] [--system kannel|smsgw|both] [--queued | --backlog]"
usage+=" [--peer asyncio|smpp34]"
usage+=" [--receiver-check] [--keep]"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --messages) MESSAGES="${2:?--messages needs a number}"; shift 2 ;;
        --messages=*) MESSAGES="${1#*=}"; shift ;;
        --system) SYSTEMS="${2:?--system needs kannel, smsgw or both}"; shift 2 ;;
        --system=*) SYSTEMS="${1#*=}"; shift ;;
        --peer) ENGINE="${2:?--peer needs asyncio or smpp34}"; shift 2 ;;
        --peer=*) ENGINE="${1#*=}"; shift ;;
        --receiver-check) RECEIVER_CHECK=1; shift ;;
        --queued) QUEUED=1; shift ;;
        --backlog) QUEUED=1 BACKLOG=1; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,43p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 ($usage)" >&2; exit 2 ;;
    esac
done
[[ "$MESSAGES" =~ ^[1-9][0-9]*$ ]] && ((MESSAGES <= 10000000)) \
    || { echo "--messages wants a positive integer (at most 10,000,000)" >&2; exit 2; }
[[ "$SYSTEMS" =~ ^(kannel|smsgw|both)$ ]] || { echo "--system wants kannel, smsgw or both" >&2; exit 2; }
[[ "$ENGINE" =~ ^(asyncio|smpp34)$ ]] || { echo "--peer wants asyncio or smpp34" >&2; exit 2; }

THREADS=2
CONNECTIONS=16
TEXT="hello world"
ORIGINATOR=58870
WINDOW=10
SMPP_USER=bench
SMPP_PASSWORD=bench
BIND_WAIT=30      # s for smsgw's worker to bind to the peer
STALL=30          # s without a new callback or a move at the peer after the feed: the run is declared stuck
SETTLE_WAIT=30    # s without change before the check of smsgw's reports table gives up
LATE=2            # s after the last expected callback, for late duplicates to show (and the log to be flushed)
CHECK_SECONDS=5   # s per wrk run of --receiver-check
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_BIN="$ROOT/.venv/bin"
HELPER=("$VENV_BIN/python" "$ROOT/bench/reports.py")
PEER=("$VENV_BIN/python" "$ROOT/bench/smpp_peer.py")
FEED_LIMIT=$((MESSAGES / 50 + 120))            # s the feed may take (below 50 msg/s it fails)
DRAIN_LIMIT=$((MESSAGES / 50 + 120))           # s after the feed for the receipts and callbacks, however they move
LIMIT=$((FEED_LIMIT + DRAIN_LIMIT + SETTLE_WAIT + 120))   # the most any daemon may live
# shellcheck source=bench/processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/processes.sh"   # log, start, stop, until_ok, answers

# --- what it needs ------------------------------------------------------------------------------------------------
PATH="$PATH:/usr/sbin:/sbin"   # bearerbox, smsbox and nginx live in /usr/sbin
if ! command -v wrk >/dev/null || ! command -v bearerbox >/dev/null || ! command -v smsbox >/dev/null \
        || ! command -v nginx >/dev/null; then
    log "installing kannel, kannel-extras, wrk and nginx from Debian"
    SUDO=(); [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
    "${SUDO[@]}" apt-get update -q
    # Debian's packages start their own Kannel and nginx where services may start; the ports below are chosen free at
    # run time, so those, if running, do not get in the way.
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q kannel kannel-extras wrk nginx
fi
if [[ ! -x "$VENV_BIN/smsgw" ]]; then
    log "setting up .venv (make .venv/.installed)"
    make -C "$ROOT" .venv/.installed >&2
fi
if [[ "$ENGINE" == smpp34 ]] && ! "$VENV_BIN/python" -c 'import smpp34' 2>/dev/null; then
    "$VENV_BIN/pip" install -q 'smpp34>=1.5,<2' >&2
fi

# --- processes and clean-up ---------------------------------------------------------------------------------------
WORK="$(mktemp -d /tmp/reports_bench.XXXXXX)"

cleanup() {
    local status=$? g
    trap - EXIT INT TERM
    for g in "${GROUPS_STARTED[@]+"${GROUPS_STARTED[@]}"}"; do stop "$g"; done
    if ((KEEP)); then echo "kept $WORK (configs, logs, callbacks, CPU samples)" >&2; else rm -rf "$WORK"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

smpp_online() { "${HELPER[@]}" fetch "$1" >"$WORK/online.txt" && [[ "$("${HELPER[@]}" kannel-status "$WORK/online.txt" \
    | cut -d' ' -f5)" == 1 ]]; }

# start_peer DIR: the SMSC peer on PEER_PORT; sets PEER_GROUP, its counters go to DIR/peer.json.
start_peer() {
    local dir="$1"
    start "$dir/peer.log" "${PEER[@]}" --port "$PEER_PORT" --stats "$dir/peer.json" \
        --system-id "$SMPP_USER" --password "$SMPP_PASSWORD" --engine "$ENGINE"
    PEER_GROUP=$STARTED
    until_ok 20 test -s "$dir/peer.json" || { tail -n 20 "$dir/peer.log" >&2; return 1; }
}

# start_receiver DIR: nginx on a free port (RECEIVER_PORT), logging callbacks to /kannel and /smsgw in
# DIR/callbacks.log and those to /check in DIR/check.log; sets RECEIVER_GROUP.
start_receiver() {
    local dir="$1"
    RECEIVER_PORT=$("${HELPER[@]}" ports 1)
    mkdir -p "$dir/nginx"
    cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    log_format callback '\$msec \$arg_id \$arg_status \$status';
    client_body_temp_path $dir/nginx/body;
    proxy_temp_path $dir/nginx/proxy;
    fastcgi_temp_path $dir/nginx/fastcgi;
    uwsgi_temp_path $dir/nginx/uwsgi;
    scgi_temp_path $dir/nginx/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    default_type text/plain;
    server {
        listen 127.0.0.1:$RECEIVER_PORT backlog=4096;
        location = /kannel { access_log $dir/callbacks.log callback buffer=64k flush=1s; return 200 "OK\n"; }
        location = /smsgw { access_log $dir/callbacks.log callback buffer=64k flush=1s; return 200 "OK\n"; }
        location = /check { access_log $dir/check.log callback buffer=64k flush=1s; return 200 "OK\n"; }
        location = /ready { return 200 "OK\n"; }
        location / { return 404; }
    }
}
EOF
    start "$dir/nginx.log" nginx -p "$dir/nginx/" -c "$dir/nginx.conf" -e "$dir/nginx/error.log"
    RECEIVER_GROUP=$STARTED
    until_ok 20 answers_200 "http://127.0.0.1:$RECEIVER_PORT/ready" \
        || { tail -n 20 "$dir/nginx.log" "$dir/nginx/error.log" >&2; return 1; }
}

# stop_receiver: a graceful stop (QUIT), which writes out the buffered log.
stop_receiver() { stop "$RECEIVER_GROUP" QUIT; }

# start_sampler DIR LABEL=PGID...: CPU samples of those groups to DIR/cpu.jsonl; sets SAMPLER_GROUP.
start_sampler() {
    local dir="$1"; shift
    start "$dir/sampler.log" "${HELPER[@]}" sample "$dir/cpu.jsonl" 0.5 "$@"
    SAMPLER_GROUP=$STARTED
}

# --- the feed: wrk, each request to a new destination, stopping at exactly N accepted -------------------------------
LUA="$WORK/feed.lua"
cat >"$LUA" <<'EOF'
-- Arguments: METHOD (GET or POST), PATH, BODY (POST only), OFFSET, TOTAL, THREADS, MARKER_DIR.
-- Every {TO} in PATH (GET) or BODY (POST) becomes a UK mobile number (+44 74xx, every one valid) counting up from
-- 4474 0000 0000 + OFFSET, 50 million apart per thread. Each thread has an equal share of TOTAL and sends a new
-- message only while (accepted + in flight) is below its share; a refused one (non-2xx) is replaced by a new one.
-- Connections with nothing left to send ask for /reports-bench-idle (a 404, not counted) until the thread's last
-- answers are in; then the thread writes MARKER_DIR/<tid>.done ("accepted refused") and stops. The shell sends wrk
-- SIGINT once every thread is done. MARKER_DIR/<tid>.start is written when the thread is set up.
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
local method, path, template, base, quota, issued, accepted, refused, marker, headers, idle, finished
local check_call
function init(args)
  method = args[1]
  template = method == "POST" and args[3] or args[2]
  local total, nthreads = tonumber(args[5]), tonumber(args[6])
  quota = math.floor(total / nthreads) + ((tid < total % nthreads) and 1 or 0)
  base = 447400000000 + tid * 50000000 + tonumber(args[4])
  marker = args[7] .. "/" .. tid
  headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
  path = args[2]
  idle = wrk.format("GET", "/reports-bench-idle")
  issued, accepted, refused, finished = 0, 0, 0, false
  -- wrk calls request() once in the first thread's state, before it runs, to check the request: not sent.
  check_call = tid == 0
  local f = io.open(marker .. ".start", "w"); f:close()
end
local function finish()
  if finished then return end
  finished = true
  local f = io.open(marker .. ".done", "w"); f:write(accepted, " ", refused, "\n"); f:close()
  wrk.thread:stop()
end
function request()
  if check_call then
    check_call = false
    return idle
  end
  if issued - refused < quota then
    issued = issued + 1
    local filled = template:gsub("{TO}", string.format("%.0f", base + issued))
    if method == "POST" then
      return wrk.format("POST", path, headers, filled)
    end
    return wrk.format("GET", filled)
  end
  if quota == 0 then finish() end
  return idle
end
function response(status, hdrs, body)
  if status == 404 then return end
  if status >= 200 and status < 300 then accepted = accepted + 1 else refused = refused + 1 end
  if accepted >= quota or refused > quota then finish() end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "timeout": %d}\n', summary.requests, summary.duration, e.status, e.connect, e.read, e.write,
    e.timeout))
end
EOF

# feed NAME BASE_URL METHOD PATH BODY: feeds MESSAGES messages; sets FED to the feed's JSON (helper `feed`). It runs
# in this shell, not in $(...), so that a signal to the script stops the run at once.
feed() {
    local name="$1" base="$2" method="$3" path="$4" body="$5"
    local markers="$WORK/$name.markers"; mkdir -p "$markers"
    timeout -k 5 "$FEED_LIMIT" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${FEED_LIMIT}s" --timeout 30s -s "$LUA" "$base" \
        -- "$method" "$path" "$body" 0 "$MESSAGES" "$THREADS" "$markers" >"$WORK/$name.wrk" 2>&1 </dev/null &
    local wrk_pid=$!
    GROUPS_STARTED+=("$wrk_pid")
    local deadline=$((SECONDS + FEED_LIMIT)) dones
    while :; do
        dones=$(find "$markers" -name '*.done' | wc -l)
        ((dones >= THREADS)) && break
        kill -0 "$wrk_pid" 2>/dev/null || break
        ((SECONDS < deadline)) || break
        sleep 0.05
    done
    ((dones >= THREADS)) || log "$name: the feed did not finish ($dones of $THREADS threads done)"
    stop "$wrk_pid" INT   # wrk sleeps out its -d unless interrupted; SIGINT ends it and runs done()
    FED=$("${HELPER[@]}" feed "$markers" "$WORK/$name.wrk")
}

# wait_callbacks DIR: waits until the receiver logged MESSAGES callbacks, or the run stalls; then LATE s more.
wait_callbacks() {
    local dir="$1" why calls acked took
    read -r why calls acked took < <("${HELPER[@]}" wait-callbacks "$dir/callbacks.log" "$dir/peer.json" "$MESSAGES" \
        "$STALL" "$DRAIN_LIMIT") || why="unknown (the wait helper failed)"
    log "callbacks: $why after ${took}s: $calls callbacks logged, $acked receipts acknowledged at the peer"
    CALLBACKS_STATE=$why
    sleep "$LATE"
}

# wait_receipts DIR: (--backlog) waits until the peer took MESSAGES submit_sm and had every receipt acknowledged.
wait_receipts() {
    local dir="$1" why submitted acked took
    read -r why submitted acked took < <("${HELPER[@]}" drain "$dir/peer.json" "$MESSAGES" "$STALL" "$DRAIN_LIMIT") \
        || why="unknown (the drain helper failed)"
    log "receipts: $why after ${took}s: the peer took $submitted submit_sm, $acked receipts acknowledged"
    RECEIPTS_STATE=$why
}

now() { date +%s.%N; }

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
BUSY_START="$("${HELPER[@]}" cpu 2)"   # % of one CPU that other processes used over 2 s before anything starts
log "load average at start: $LOAD_START; other processes busy ${BUSY_START}% of one CPU; $(nproc) CPUs;" \
    "$MESSAGES messages per system; wrk -t$THREADS -c$CONNECTIONS"

# --- the receiver alone ---------------------------------------------------------------------------------------------
run_receiver_check() {
    local dir="$WORK/receiver-check" conns wrk_pid cpu
    mkdir -p "$dir"
    start_receiver "$dir"
    for conns in 8 64; do
        log "receiver alone: wrk -t2 -c$conns for ${CHECK_SECONDS}s"
        timeout -k 5 $((CHECK_SECONDS + 30)) wrk -t2 -c"$conns" -d"${CHECK_SECONDS}s" --latency \
            "http://127.0.0.1:$RECEIVER_PORT/check?id=1&status=received" >"$dir/wrk-$conns.txt" 2>&1 </dev/null &
        wrk_pid=$!
        GROUPS_STARTED+=("$wrk_pid")
        sleep 0.5
        cpu=$("${HELPER[@]}" cpu $((CHECK_SECONDS - 1)) nginx="$RECEIVER_GROUP" wrk="$wrk_pid")
        wait "$wrk_pid" || cat "$dir/wrk-$conns.txt" >&2
        stop "$wrk_pid"
        printf 'receiver alone (wrk -t2 -c%s)\t-\t-\t%s\t%s\t-\t-\n' "$conns" "$("${HELPER[@]}" wrk-rate "$dir/wrk-$conns.txt")" \
            "$("${HELPER[@]}" checks -- "$cpu")" >>"$RESULTS"
    done
    stop_receiver
}

# --- Kannel -------------------------------------------------------------------------------------------------------
run_kannel() {
    local ports admin smsbox_port sendsms
    mapfile -t ports < <("${HELPER[@]}" ports 3)
    admin=${ports[0]} smsbox_port=${ports[1]} sendsms=${ports[2]}
    local dir="$WORK/kannel"; mkdir -p "$dir"
    start_receiver "$dir"
    PEER_PORT=$("${HELPER[@]}" ports 1)
    ((QUEUED)) || start_peer "$dir"
    cat >"$dir/kannel.conf" <<EOF
group = core
admin-port = $admin
admin-interface = 127.0.0.1
admin-password = bar
smsbox-port = $smsbox_port
smsbox-interface = 127.0.0.1
store-type = file
store-location = $dir/kannel.store
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = peer
host = 127.0.0.1
port = $PEER_PORT
transceiver-mode = true
system-type = bench
smsc-username = $SMPP_USER
smsc-password = $SMPP_PASSWORD
max-pending-submits = $WINDOW
reconnect-delay = 1

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
    local bb sb
    start "$dir/bearerbox.log" bearerbox -v 2 "$dir/kannel.conf"; bb=$STARTED
    until_ok 20 answers "$status_url" || { tail -n 20 "$dir/bearerbox.log" >&2; return 1; }
    if ! ((QUEUED)); then
        until_ok 20 smpp_online "$status_url" || { tail -n 20 "$dir/bearerbox.log" "$dir/peer.log" >&2; return 1; }
    fi
    start "$dir/smsbox.log" smsbox -v 2 "$dir/kannel.conf"; sb=$STARTED
    local base="http://127.0.0.1:$sendsms"
    until_ok 20 answers "$base/cgi-bin/sendsms" || { tail -n 20 "$dir/smsbox.log" >&2; return 1; }
    local dlr_url="http%3A%2F%2F127.0.0.1%3A$RECEIVER_PORT%2Fkannel%3Fid%3D{TO}%26status%3D%25d"
    log "Kannel: feeding $MESSAGES messages through /cgi-bin/sendsms (dlr-mask=1, dlr-url to the receiver)"
    ((QUEUED)) || start_sampler "$dir" bearerbox="$bb" smsbox="$sb" peer="$PEER_GROUP" receiver="$RECEIVER_GROUP"
    feed kannel "$base" GET "/cgi-bin/sendsms?username=tester&password=foobar&from=$ORIGINATOR&to={TO}"\
"&text=${TEXT// /+}&dlr-mask=1&dlr-url=$dlr_url" ""
    local fed=$FED
    log "Kannel: fed $fed"
    local sender_start=- problems=()
    if ((BACKLOG)); then
        log "Kannel: stopping smsbox, starting the peer; bearerbox reconnects within a second"
        stop "$sb"
        start_peer "$dir"
        wait_receipts "$dir"
        [[ "$RECEIPTS_STATE" == complete ]] || problems+=("receipts $RECEIPTS_STATE with smsbox stopped")
        sleep 1
        sender_start=$(now)
        log "Kannel: starting smsbox: bearerbox hands it the reports it kept"
        start "$dir/smsbox-2.log" smsbox -v 2 "$dir/kannel.conf"; sb=$STARTED
        start_sampler "$dir" bearerbox="$bb" smsbox="$sb" peer="$PEER_GROUP" receiver="$RECEIVER_GROUP"
    elif ((QUEUED)); then
        log "Kannel: starting the peer; bearerbox reconnects within a second"
        start_peer "$dir"
        start_sampler "$dir" bearerbox="$bb" smsbox="$sb" peer="$PEER_GROUP" receiver="$RECEIVER_GROUP"
    fi
    wait_callbacks "$dir"
    local sent queued store dlrs online
    "${HELPER[@]}" fetch "$status_url" >"$dir/status.txt"
    read -r sent queued store dlrs online < <("${HELPER[@]}" kannel-status "$dir/status.txt")
    local facts=("bearerbox: sent $sent, queued $queued, store size $store, DLRs waiting $dlrs")
    [[ "$CALLBACKS_STATE" == complete ]] || problems+=("callbacks $CALLBACKS_STATE")
    ((dlrs == 0)) || problems+=("$dlrs DLRs unmatched in bearerbox")
    stop "$SAMPLER_GROUP"
    stop "$sb"
    stop "$bb"
    stop "$PEER_GROUP"
    stop_receiver
    local logfile
    for logfile in "$dir/bearerbox.log" "$dir/smsbox.log" "$dir/smsbox-2.log"; do
        [[ -f "$logfile" ]] || continue
        # not counted: the store not there yet at the start, the peer not up yet (--queued), wrk's connections reset
        # when the feed stops, the stop itself
        grep -E 'ERROR' "$logfile" | grep -vE 'fopen failed|System error (2|104|111):|Error reading from fd' \
            | grep -vE "connect(ing)? to .*(failed|server)|Couldn't connect to SMS center|received, abort" \
            | head -n 3 >"$dir/errors.txt" || true
        [[ -s "$dir/errors.txt" ]] && facts+=("${logfile##*/}: $(tr '\n' ' ' <"$dir/errors.txt" | cut -c1-300)")
    done
    printf 'Kannel\t%s\t%s\t%s\t%s\t%s\t%s\n' "$fed" "$(cat "$dir/peer.json")" \
        "$("${HELPER[@]}" callbacks "$dir/callbacks.log")" \
        "$("${HELPER[@]}" checks "${problems[@]+"${problems[@]}"}" -- "${facts[@]}")" "$dir/cpu.jsonl" \
        "$sender_start" >>"$RESULTS"
}

# --- smsgw --------------------------------------------------------------------------------------------------------
run_smsgw() {
    local dir="$WORK/smsgw"; mkdir -p "$dir"
    local url="sqlite:///$dir/smsgw.db" port
    start_receiver "$dir"
    PEER_PORT=$("${HELPER[@]}" ports 1)
    ((QUEUED)) || start_peer "$dir"
    port=$("${HELPER[@]}" ports 1)
    "$VENV_BIN/smsgw" --database-url "$url" account add bench --password benchpw --default-country GB \
        --default-originator "$ORIGINATOR" --report-format modica --dlr-url "http://127.0.0.1:$RECEIVER_PORT/smsgw" \
        >"$dir/account.log" 2>&1 || { cat "$dir/account.log" >&2; return 1; }
    local smsc="smpp://$SMPP_USER:$SMPP_PASSWORD@127.0.0.1:$PEER_PORT?window=$WINDOW" gw worker="" outbox=""
    local only=(); ((QUEUED)) && only+=(--no-worker); ((BACKLOG)) && only+=(--no-outbox)
    start "$dir/serve.log" "$VENV_BIN/smsgw" serve --listen "127.0.0.1:$port" --database-url "$url" --smsc "$smsc" \
        "${only[@]+"${only[@]}"}"
    gw=$STARTED
    local base="http://127.0.0.1:$port"
    until_ok 60 answers_200 "$base/healthz" || { tail -n 30 "$dir/serve.log" >&2; return 1; }
    local problems=() facts=()
    if ! ((QUEUED)) && ! "${HELPER[@]}" wait-bind "$dir/peer.json" "$BIND_WAIT"; then
        log "smsgw: no bind at the peer within ${BIND_WAIT}s (no delivery worker?); feeding all the same"
        problems+=("smsgw did not bind to the peer within ${BIND_WAIT} s")
    fi
    log "smsgw: feeding $MESSAGES messages through Modica POST /message"
    ((QUEUED)) || start_sampler "$dir" smsgw="$gw" peer="$PEER_GROUP" receiver="$RECEIVER_GROUP"
    feed smsgw "$base" POST /message \
        "application=bench&password=benchpw&destination=%2B{TO}&content=${TEXT// /+}&version=2"
    local fed=$FED
    log "smsgw: fed $fed"
    local sender_start=-
    if ((QUEUED)); then
        if ((BACKLOG)); then
            log "smsgw: starting the peer and \`smsgw worker\` (no outbox yet)"
        else
            log "smsgw: starting the peer and \`smsgw worker\` (the outbox runs beside serve)"
        fi
        start_peer "$dir"
        start "$dir/worker.log" "$VENV_BIN/smsgw" --database-url "$url" worker --smsc "$smsc"; worker=$STARTED
        ((BACKLOG)) || start_sampler "$dir" smsgw="$gw" worker="$worker" peer="$PEER_GROUP" receiver="$RECEIVER_GROUP"
        if ! "${HELPER[@]}" wait-bind "$dir/peer.json" "$BIND_WAIT"; then
            log "smsgw: no bind at the peer within ${BIND_WAIT}s"
            problems+=("smsgw worker did not bind to the peer within ${BIND_WAIT} s")
        fi
    fi
    if ((BACKLOG)); then
        wait_receipts "$dir"
        [[ "$RECEIPTS_STATE" == complete ]] || problems+=("receipts $RECEIPTS_STATE with no outbox")
        local reports
        reports=$("${HELPER[@]}" wait-reports "$dir/smsgw.db" "$MESSAGES" "$STALL") || reports="?"
        log "smsgw: $reports reports waiting in the outbox table; starting \`smsgw outbox\`"
        [[ "$reports" == "$MESSAGES" ]] || problems+=("$reports of $MESSAGES reports made with no outbox")
        sender_start=$(now)
        start "$dir/outbox.log" "$VENV_BIN/smsgw" --database-url "$url" outbox; outbox=$STARTED
        start_sampler "$dir" smsgw="$gw" worker="$worker" outbox="$outbox" peer="$PEER_GROUP" \
            receiver="$RECEIVER_GROUP"
    fi
    wait_callbacks "$dir"
    [[ "$CALLBACKS_STATE" == complete ]] || problems+=("callbacks $CALLBACKS_STATE")
    local counts wait=1   # after a run that stalled, one look is enough
    [[ "$CALLBACKS_STATE" == complete ]] && wait=$SETTLE_WAIT
    counts=$("${HELPER[@]}" store "$dir/smsgw.db" "$MESSAGES" "$wait")
    log "smsgw: the store: $counts"
    facts+=("in the store: $counts")
    stop "$SAMPLER_GROUP"
    [[ -n "$outbox" ]] && stop "$outbox"
    [[ -n "$worker" ]] && stop "$worker"
    stop "$gw"
    stop "$PEER_GROUP"
    stop_receiver
    local done_reports delivered
    done_reports=$(sed -nE 's/.*"done": ([0-9]+).*/\1/p' <<<"$counts")
    delivered=$(sed -nE 's/.*"delivered": ([0-9]+).*/\1/p' <<<"$counts")
    [[ "${done_reports:-0}" == "$MESSAGES" ]] || problems+=("${done_reports:-0} of $MESSAGES reports done in the store")
    [[ "${delivered:-0}" == "$MESSAGES" ]] || problems+=("${delivered:-0} of $MESSAGES messages delivered in the store")
    local logfile
    for logfile in "$dir/serve.log" "$dir/worker.log" "$dir/outbox.log"; do
        [[ -f "$logfile" ]] || continue
        grep -E 'Traceback|ERROR|: outbox: ' "$logfile" | head -n 3 \
            >"$dir/errors.txt" || true
        [[ -s "$dir/errors.txt" ]] && facts+=("${logfile##*/}: $(tr '\n' ' ' <"$dir/errors.txt" | cut -c1-300)")
    done
    printf 'smsgw\t%s\t%s\t%s\t%s\t%s\t%s\n' "$fed" "$(cat "$dir/peer.json")" \
        "$("${HELPER[@]}" callbacks "$dir/callbacks.log" "$dir/smsgw.db")" \
        "$("${HELPER[@]}" checks "${problems[@]+"${problems[@]}"}" -- "${facts[@]+"${facts[@]}"}")" "$dir/cpu.jsonl" \
        "$sender_start" >>"$RESULTS"
}

((RECEIVER_CHECK)) && run_receiver_check
if [[ "$SYSTEMS" != smsgw ]]; then
    log "Kannel: peer -> bearerbox (store-type=file, dlr-storage=internal, smsc=smpp, window $WINDOW) -> smsbox ->" \
        "receiver"
    run_kannel
fi
if [[ "$SYSTEMS" != kannel ]]; then
    log "smsgw: peer -> smsgw serve (granian, 2 workers, delivery worker, outbox, window $WINDOW), fresh SQLite" \
        "database -> receiver"
    run_smsgw
fi

LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
echo
mode="the peer up during the feed"; ((QUEUED)) && mode="queued: the peer started once all were fed"
((BACKLOG)) && mode="backlog: the report senders started once all receipts were in"
echo "Delivery reports out ($mode), $MESSAGES messages per system: fed over HTTP (wrk -t$THREADS -c$CONNECTIONS), sent" \
     "over SMPP (window $WINDOW) to one SMSC peer (bench/smpp_peer.py, $ENGINE engine) that sends a receipt for each;" \
     "one GET per report to nginx; 127.0.0.1, $(nproc) CPUs shared by everything"
echo
status=0
"${HELPER[@]}" table "$RESULTS" "$MESSAGES" "$QUEUED" || status=$?
echo
echo "  receipts/s: receipts acknowledged at the peer / (last acknowledgement - first receipt sent); callbacks/s:"
echo "    callbacks / (last - first callback at the receiver); end-to-end: first receipt sent to last callback;"
echo "    drain msg/s: submit_sm / (last - first submit_sm); fed msg/s: accepted requests / feed time."
echo "  Durability differs: Kannel keeps the DLRs waiting for their receipt in memory (dlr-storage = internal; its"
echo "    file store holds the messages, not the DLR table) and hands the report to smsbox, which fetches the URL"
echo "    once; smsgw commits each report as a row in the transaction that moves its message to delivered and marks"
echo "    it done only after the customer's 2xx, so a crash or a failing customer loses none (retried for the"
echo "    account's retention)."
if ((BACKLOG)); then
    echo "  Backlog: nothing was sent while the messages were fed; then the receipts came in with no report sender"
    echo "    running (smsbox stopped; smsgw without its outbox); end-to-end runs from the sender's start, and the"
    echo "    callbacks are the sender's work alone."
elif ((QUEUED)); then
    echo "  Queued: nothing was sent while the messages were fed; the peer (and smsgw's worker) started afterwards."
else
    echo "  The callbacks cannot outrun the feed: when they end with it, the feed set the pace (--queued measures the"
    echo "    SMPP and report side alone)."
fi
echo "  load average (1/5/15 min): start $LOAD_START, end $LOAD_END; CPU used by other processes in the 2 s before"
echo "    the start: ${BUSY_START}% of one CPU"
if ((BUSY_START > 25)); then
    echo "  WARNING: the machine was already busy at the start: the figures are lower than on a quiet machine and the"
    echo "    ratios less reliable; run again when it is idle."
fi
exit "$status"
