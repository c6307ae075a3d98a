# Process and polling helpers shared by the benchmarks that run daemons (`source`d; the sourcing script sets LIMIT,
# the most any daemon may live, and HELPER, its Python helper with a `get URL` command).

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

GROUPS_STARTED=()

# start LOGFILE CMD...: runs CMD under `timeout`, which makes its own process group; sets STARTED to its id.
start() {
    local logfile="$1"; shift
    timeout -k 5 "$LIMIT" "$@" >"$logfile" 2>&1 </dev/null &
    STARTED=$!
    GROUPS_STARTED+=("$STARTED")
}

# stop PGID [SIGNAL]: SIGNAL (default TERM) to the program `timeout` runs, and only to it (its own children, granian's
# workers, hear it from their master), then 15 s for the whole group to leave before SIGKILL. Signalling the group
# instead gives each granian worker SIGTERM three times (ours, timeout's forward to its group, granian's master), and
# then about 4 stops in 10 right after a load hang until killed (granian 2.8.7: the worker's main thread stays in
# nested signal handlers); signalled once, 16 in 16 stopped in under 0.6 s.
stop() {
    local pgid="$1" sig="${2:-TERM}" i child
    child="$(cat "/proc/$pgid/task/$pgid/children" 2>/dev/null || true)"
    if [[ -n "${child// /}" ]]; then
        # shellcheck disable=SC2086  # one pid, or several separated by spaces
        kill -"$sig" $child 2>/dev/null || true
    else
        kill -"$sig" -- "-$pgid" 2>/dev/null || kill -"$sig" "$pgid" 2>/dev/null || true
    fi
    for ((i = 0; i < 150; i++)); do
        kill -0 -- "-$pgid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$pgid" 2>/dev/null || true
    wait "$pgid" 2>/dev/null || true
    local kept=() g
    for g in "${GROUPS_STARTED[@]}"; do [[ "$g" == "$pgid" ]] || kept+=("$g"); done
    GROUPS_STARTED=("${kept[@]+"${kept[@]}"}")
}

# until SECONDS CMD...: retry CMD every 0.2 s until it succeeds; fail after SECONDS.
until_ok() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

http_status() { "${HELPER[@]}" get "$1" | cut -c1-3; }
answers() { [[ "$(http_status "$1")" != 000 ]]; }
answers_200() { [[ "$(http_status "$1")" == 200 ]]; }
