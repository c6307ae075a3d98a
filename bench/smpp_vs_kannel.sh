#!/usr/bin/env bash
# SMPP delivery: Kannel and smsgw each push N messages (default 50,000) into one SMPP SMSC peer and take its receipts.
#
#   bash bench/smpp_vs_kannel.sh [--messages N] [--system kannel|smsgw|both] [--queued] [--peer asyncio|smpp34]
#                                [--peer-check] [--keep]
#
# The peer is bench/smpp_peer.py: it accepts every submit_sm with a decimal message id and sends a delivery receipt
# (deliver_sm, esm_class 0x04, stat:DELIVRD, receipted_message_id + message_state TLVs) for each one that asks for
# it, 0.1 s after the submit_sm at the earliest, up to 10 deliver_sm in flight per session; it counts and times both.
# Its default engine is plain asyncio (about 27k msg/s with receipts here); --peer smpp34 runs it on smpp34.Server,
# which tops out near 3k msg/s on this machine and so would measure itself, not the gateways.
#   Kannel 1.4.5 (installed from Debian with kannel-extras and wrk when missing): bearerbox with `store-type = file`,
#     internal DLR storage and `smsc = smpp` to the peer (transceiver, `max-pending-submits = 10`), smsbox with a
#     sendsms-user; messages fed through /cgi-bin/sendsms with dlr-mask=3 (receipts asked for) and no dlr-url:
#     bearerbox matches each receipt and hands the report to smsbox, which has no URL to call and logs that.
#   smsgw: `smsgw serve --smsc smpp://bench:bench@127.0.0.1:PORT?window=10` (granian, 2 workers, and the delivery
#     worker) on a fresh SQLite database; messages fed through the Modica face, POST /message (reports are asked for
#     by default). Afterwards every message must reach a final state in `messages` (expected: all 'delivered').
# The feed is wrk (2 threads, 16 keep-alive connections), a new destination per request (a Lua script counts up),
# that stops once exactly N requests were accepted. Drain msg/s = submit_sm / (last - first submit_sm at the peer);
# receipts/s = receipts acknowledged / (last acknowledgement - first receipt sent). --peer-check first measures the
# peer alone against a lean asyncio ESME (transceiver, windows 10 and 50), to show it is not the limit.
# By default the peer is up while the messages are fed, so the drain can go no faster than the feed. With --queued
# it starts only once all are fed (bearerbox queues them, reconnecting every second; smsgw runs `serve --no-worker`
# and then `smsgw worker`): fed msg/s is then HTTP intake alone and drain msg/s the SMPP side alone.
# Everything listens on 127.0.0.1 (free ports chosen at run time), every process runs under `timeout` in its own
# process group and is stopped at the end, and the temporary directory is removed (--keep keeps it, for its logs).
# Exits 1 when a check failed (the table is printed all the same).
set -euo pipefail

MESSAGES=50000
SYSTEMS=both
PEER_CHECK=0
KEEP=0
ENGINE=asyncio
QUEUED=0
usage="usage: bash bench/smpp_vs_kannel.sh [--messages N] [--system kannel|smsgw|both] [--peer asyncio|smpp34]"
usage+=" [--queued] [--peer-check] [--keep]"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --messages) MESSAGES="${2:?--messages needs a number}"; shift 2 ;;
        --messages=*) MESSAGES="${1#*=}"; shift ;;
        --system) SYSTEMS="${2:?--system needs kannel, smsgw or both}"; shift 2 ;;
        --system=*) SYSTEMS="${1#*=}"; shift ;;
        --peer) ENGINE="${2:?--peer needs asyncio or smpp34}"; shift 2 ;;
        --peer=*) ENGINE="${1#*=}"; shift ;;
        --peer-check) PEER_CHECK=1; shift ;;
        --queued) QUEUED=1; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
STALL=30          # s without any submit_sm or receipt at the peer after the feed: the drain is declared stuck
FINAL_WAIT=60     # s without any status change before the store check gives up
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_BIN="$ROOT/.venv/bin"
HELPER=("$VENV_BIN/python" "$ROOT/bench/smpp_vs_kannel.py")
PEER=("$VENV_BIN/python" "$ROOT/bench/smpp_peer.py")
FEED_LIMIT=$((MESSAGES / 50 + 120))            # s the feed may take (below 50 msg/s it fails)
DRAIN_LIMIT=$((MESSAGES / 100 + 120))          # s after the feed for the drain, however it moves
LIMIT=$((FEED_LIMIT + DRAIN_LIMIT + FINAL_WAIT + 120))   # the most any daemon may live
# shellcheck source=bench/processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/processes.sh"   # log, start, stop, until_ok, answers

# --- what it needs ------------------------------------------------------------------------------------------------
PATH="$PATH:/usr/sbin:/sbin"   # bearerbox and smsbox live in /usr/sbin
if ! command -v wrk >/dev/null || ! command -v bearerbox >/dev/null || ! command -v smsbox >/dev/null; then
    log "installing kannel, kannel-extras and wrk from Debian"
    SUDO=(); [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
    "${SUDO[@]}" apt-get update -q
    # Debian's package starts its own Kannel (WAP-only /etc/kannel/kannel.conf) where services may start; the ports
    # below are chosen free at run time, so that one, if running, does not get in the way.
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q kannel kannel-extras wrk
fi
if [[ ! -x "$VENV_BIN/smsgw" ]]; then
    log "setting up .venv (make .venv/.installed)"
    make -C "$ROOT" .venv/.installed >&2
fi
if [[ "$ENGINE" == smpp34 ]] && ! "$VENV_BIN/python" -c 'import smpp34' 2>/dev/null; then
    "$VENV_BIN/pip" install -q 'smpp34>=1.5,<2' >&2
fi

# --- processes and clean-up ---------------------------------------------------------------------------------------
WORK="$(mktemp -d /tmp/smpp_vs_kannel.XXXXXX)"

cleanup() {
    local status=$? g
    trap - EXIT INT TERM
    for g in "${GROUPS_STARTED[@]+"${GROUPS_STARTED[@]}"}"; do stop "$g"; done
    if ((KEEP)); then echo "kept $WORK (configs, logs, counters)" >&2; else rm -rf "$WORK"; fi
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

# --- the feed: wrk, each request to a new destination, stopping at exactly N accepted -------------------------------
LUA="$WORK/feed.lua"
cat >"$LUA" <<'EOF'
-- Arguments: METHOD (GET or POST), PATH, BODY (POST only), OFFSET, TOTAL, THREADS, MARKER_DIR.
-- {TO} in PATH (GET) or BODY (POST) becomes a UK mobile number (+44 74xx, every one valid) counting up from
-- 4474 0000 0000 + OFFSET, 50 million apart per thread. Each thread has an equal share of TOTAL and sends a new
-- message only while (accepted + in flight) is below its share; a refused one (non-2xx) is replaced by a new one.
-- Connections with nothing left to send ask for /smpp-bench-idle (a 404, not counted) until the thread's last
-- answers are in; then the thread writes MARKER_DIR/<tid>.done ("accepted refused") and stops. The shell sends wrk
-- SIGINT once every thread is done. MARKER_DIR/<tid>.start is written when the thread is set up.
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
local method, path, prefix, suffix, base, quota, issued, accepted, refused, marker, headers, idle, finished
local check_call
function init(args)
  method = args[1]
  local template = method == "POST" and args[3] or args[2]
  prefix, suffix = template:match("^(.-){TO}(.*)$")
  local total, nthreads = tonumber(args[5]), tonumber(args[6])
  quota = math.floor(total / nthreads) + ((tid < total % nthreads) and 1 or 0)
  base = 447400000000 + tid * 50000000 + tonumber(args[4])
  marker = args[7] .. "/" .. tid
  headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
  path = args[2]
  idle = wrk.format("GET", "/smpp-bench-idle")
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
    local to = string.format("%.0f", base + issued)
    if method == "POST" then
      return wrk.format("POST", path, headers, prefix .. to .. suffix)
    end
    return wrk.format("GET", prefix .. to .. suffix)
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

CPU_SINCE="the feed's start"; ((QUEUED)) && CPU_SINCE="the peer's start"
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
BUSY_START="$("${HELPER[@]}" cpu 2)"   # % of one CPU that other processes used over 2 s before anything starts
log "load average at start: $LOAD_START; other processes busy ${BUSY_START}% of one CPU; $(nproc) CPUs;" \
    "$MESSAGES messages per system; wrk -t$THREADS -c$CONNECTIONS"

# --- the peer alone -----------------------------------------------------------------------------------------------
run_peer_check() {
    local dir="$WORK/peer-check" window blast
    mkdir -p "$dir"
    for window in 10 50; do
        PEER_PORT=$("${HELPER[@]}" ports 1)
        start_peer "$dir"
        log "peer alone: a lean asyncio ESME, window $window, $MESSAGES submit_sm asking for receipts"
        blast=$(timeout -k 5 "$((DRAIN_LIMIT + 60))" "${HELPER[@]}" blast "$PEER_PORT" "$MESSAGES" "$window" \
            2>"$dir/blast.log") || { tail -n 20 "$dir/blast.log" >&2; blast='{}'; }
        stop "$PEER_GROUP"
        printf 'peer alone (window %s)\t-\t%s\t{}\tthe client itself: %s\n' "$window" \
            "$(cat "$dir/peer.json")" "$blast" >>"$RESULTS"
        rm -f "$dir/peer.json"
    done
}

# wait_drain DIR: waits until the peer has taken MESSAGES submit_sm and acknowledged receipts for them, or stalls.
wait_drain() {
    local dir="$1" why submitted acked took
    read -r why submitted acked took < <("${HELPER[@]}" drain "$dir/peer.json" "$MESSAGES" "$STALL" "$DRAIN_LIMIT") \
        || why="unknown (the drain helper failed)"
    log "drain: $why after ${took}s: the peer took $submitted submit_sm, $acked receipts acknowledged"
    DRAIN_STATE=$why
}

# --- Kannel -------------------------------------------------------------------------------------------------------
run_kannel() {
    local ports admin smsbox_port sendsms
    mapfile -t ports < <("${HELPER[@]}" ports 3)
    admin=${ports[0]} smsbox_port=${ports[1]} sendsms=${ports[2]}
    local dir="$WORK/kannel"; mkdir -p "$dir"
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
    log "Kannel: feeding $MESSAGES messages through /cgi-bin/sendsms (dlr-mask=3)"
    ((QUEUED)) || "${HELPER[@]}" snap "$WORK/kannel.snap" bearerbox="$bb" smsbox="$sb" peer="$PEER_GROUP"
    feed kannel "$base" GET \
        "/cgi-bin/sendsms?username=tester&password=foobar&from=$ORIGINATOR&to={TO}&text=${TEXT// /+}&dlr-mask=3" ""
    local fed=$FED
    log "Kannel: fed $fed"
    if ((QUEUED)); then
        log "Kannel: starting the peer; bearerbox reconnects within a second"
        start_peer "$dir"
        "${HELPER[@]}" snap "$WORK/kannel.snap" bearerbox="$bb" smsbox="$sb" peer="$PEER_GROUP"
    fi
    wait_drain "$dir"
    local cpu_note; cpu_note=$("${HELPER[@]}" cpu-since "$WORK/kannel.snap" "$CPU_SINCE")
    # bearerbox's own view once the peer is done: sent, queues, store and DLRs still waiting for a receipt.
    local sent queued store dlrs online
    sleep 1
    "${HELPER[@]}" fetch "$status_url" >"$dir/status.txt"
    read -r sent queued store dlrs online < <("${HELPER[@]}" kannel-status "$dir/status.txt")
    local problems=() facts=("bearerbox: sent $sent, queued $queued, store size $store, DLRs waiting $dlrs" "$cpu_note")
    [[ "$DRAIN_STATE" == complete ]] || problems+=("drain $DRAIN_STATE")
    ((dlrs == 0)) || problems+=("$dlrs DLRs unmatched in bearerbox")
    stop "$sb"
    stop "$bb"
    stop "$PEER_GROUP"
    printf 'Kannel\t%s\t%s\t%s\t%s\n' "$fed" "$(cat "$dir/peer.json")" \
        "$("${HELPER[@]}" checks "${problems[@]+"${problems[@]}"}" -- "${facts[@]}")" "" >>"$RESULTS"
}

# --- smsgw --------------------------------------------------------------------------------------------------------
run_smsgw() {
    local dir="$WORK/smsgw"; mkdir -p "$dir"
    local url="sqlite:///$dir/smsgw.db" port
    PEER_PORT=$("${HELPER[@]}" ports 1)
    ((QUEUED)) || start_peer "$dir"
    port=$("${HELPER[@]}" ports 1)
    "$VENV_BIN/smsgw" --database-url "$url" account add bench --password benchpw --default-country GB \
        --default-originator "$ORIGINATOR" >"$dir/account.log" 2>&1 || { cat "$dir/account.log" >&2; return 1; }
    local smsc="smpp://$SMPP_USER:$SMPP_PASSWORD@127.0.0.1:$PEER_PORT?window=$WINDOW" gw worker=""
    local no_worker=(); ((QUEUED)) && no_worker=(--no-worker)
    start "$dir/serve.log" "$VENV_BIN/smsgw" serve --listen "127.0.0.1:$port" --database-url "$url" --smsc "$smsc" \
        "${no_worker[@]+"${no_worker[@]}"}"
    gw=$STARTED
    local base="http://127.0.0.1:$port"
    until_ok 60 answers_200 "$base/healthz" || { tail -n 30 "$dir/serve.log" >&2; return 1; }
    local problems=() facts=()
    if ! ((QUEUED)) && ! "${HELPER[@]}" wait-bind "$dir/peer.json" "$BIND_WAIT"; then
        log "smsgw: no bind at the peer within ${BIND_WAIT}s (no delivery worker?); feeding all the same"
        problems+=("smsgw did not bind to the peer within ${BIND_WAIT} s")
    fi
    log "smsgw: feeding $MESSAGES messages through Modica POST /message"
    ((QUEUED)) || "${HELPER[@]}" snap "$WORK/smsgw.snap" smsgw="$gw" peer="$PEER_GROUP"
    feed smsgw "$base" POST /message \
        "application=bench&password=benchpw&destination=%2B{TO}&content=${TEXT// /+}&version=2"
    local fed=$FED
    log "smsgw: fed $fed"
    if ((QUEUED)); then
        log "smsgw: starting the peer and \`smsgw worker\`"
        start_peer "$dir"
        start "$dir/worker.log" "$VENV_BIN/smsgw" --database-url "$url" worker --smsc "$smsc"; worker=$STARTED
        "${HELPER[@]}" snap "$WORK/smsgw.snap" serve="$gw" worker="$worker" peer="$PEER_GROUP"
        if ! "${HELPER[@]}" wait-bind "$dir/peer.json" "$BIND_WAIT"; then
            log "smsgw: no bind at the peer within ${BIND_WAIT}s"
            problems+=("smsgw worker did not bind to the peer within ${BIND_WAIT} s")
        fi
    fi
    wait_drain "$dir"
    facts+=("$("${HELPER[@]}" cpu-since "$WORK/smsgw.snap" "$CPU_SINCE")")
    [[ "$DRAIN_STATE" == complete ]] || problems+=("drain $DRAIN_STATE")
    local counts wait=1   # after a drain that stalled, one look is enough
    [[ "$DRAIN_STATE" == complete ]] && wait=$FINAL_WAIT
    counts=$("${HELPER[@]}" statuses "$dir/smsgw.db" "$MESSAGES" "$wait")
    log "smsgw: statuses in the store: $counts"
    facts+=("statuses in messages: $counts")
    [[ -n "$worker" ]] && stop "$worker"
    stop "$gw"
    stop "$PEER_GROUP"
    local delivered
    delivered=$(sed -nE 's/.*"delivered": ([0-9]+).*/\1/p' <<<"$counts")
    [[ "${delivered:-0}" == "$MESSAGES" ]] || problems+=("${delivered:-0} of $MESSAGES delivered in the store")
    local logfile
    for logfile in "$dir/serve.log" "$dir/worker.log"; do
        [[ -f "$logfile" ]] || continue
        grep -E 'Traceback|ERROR' "$logfile" | head -n 3 >"$dir/errors.txt" || true
        [[ -s "$dir/errors.txt" ]] && facts+=("${logfile##*/}: $(tr '\n' ' ' <"$dir/errors.txt" | cut -c1-300)")
    done
    printf 'smsgw\t%s\t%s\t%s\t\n' "$fed" "$(cat "$dir/peer.json")" \
        "$("${HELPER[@]}" checks "${problems[@]+"${problems[@]}"}" -- "${facts[@]+"${facts[@]}"}")" >>"$RESULTS"
}

((PEER_CHECK)) && run_peer_check
if [[ "$SYSTEMS" != smsgw ]]; then
    log "Kannel: peer -> bearerbox (store-type=file, smsc=smpp, window $WINDOW) -> smsbox"
    run_kannel
fi
if [[ "$SYSTEMS" != kannel ]]; then
    log "smsgw: peer -> smsgw serve (granian, 2 workers, delivery worker, window $WINDOW), fresh SQLite database"
    run_smsgw
fi

LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
echo
mode="the peer up during the feed"; ((QUEUED)) && mode="queued: the peer started once all were fed"
echo "SMPP delivery ($mode), $MESSAGES messages per system: fed over HTTP (wrk -t$THREADS -c$CONNECTIONS keep-alive, one" \
     "destination per request), drained over SMPP (window $WINDOW) into one SMSC peer (bench/smpp_peer.py, $ENGINE" \
     "engine) that sends a receipt for each; 127.0.0.1, $(nproc) CPUs shared by everything"
echo
status=0
"${HELPER[@]}" table "$RESULTS" "$MESSAGES" "$QUEUED" || status=$?
echo
echo "  drain msg/s: submit_sm at the peer / (last - first submit_sm); receipts/s: receipts acknowledged / (last"
echo "    acknowledgement - first receipt sent); fed msg/s: accepted requests / (last answer - wrk start)."
if ((QUEUED)); then
    echo "  Queued: nothing was sent while the messages were fed; the peer (and smsgw's worker) started afterwards."
else
    echo "  The drain cannot outrun the feed: when both end together, the feed set the pace (--queued measures the"
    echo "    SMPP side alone)."
fi
echo "  load average (1/5/15 min): start $LOAD_START, end $LOAD_END; CPU used by other processes in the 2 s before"
echo "    the start: ${BUSY_START}% of one CPU"
if ((BUSY_START > 25)); then
    echo "  WARNING: the machine was already busy at the start: the figures are lower than on a quiet machine and the"
    echo "    ratios less reliable; run again when it is idle."
fi
exit "$status"
