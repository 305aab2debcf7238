#!/usr/bin/env bash
# Stops a session started by start_standalone_ingest.sh gracefully: Ctrl-C to every process
# (the master first: it stops taking files; workers finish or abandon what is in flight
# without committing it), waits for each to exit, prints each window's exit status, then
# closes the session.
#
#   bash stop_standalone_ingest.sh SESSION | PIPELINE [--timeout SECONDS]
#
# Exit status: 0 when every process exited by itself with 0, 1 on bad arguments, 2 when a
# process exited non-zero, 3 when one had to be killed after the timeout.
set -euo pipefail
usage="usage: bash stop_standalone_ingest.sh SESSION|PIPELINE [--timeout SECONDS]"
timeout=180
target=""
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "error: --timeout needs a positive number of seconds" >&2; exit 1; }
               timeout=$2; shift 2 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) [ -z "$target" ] || { echo "$usage" >&2; exit 1; }; target=$1; shift ;;
  esac
done
[ -n "$target" ] || { echo "$usage" >&2; exit 1; }
command -v tmux >/dev/null || { echo "error: tmux is not installed" >&2; exit 1; }

sessions=$(tmux list-sessions -F '#{session_name}' 2>/dev/null || true)
if grep -qxF -- "$target" <<<"$sessions"; then
  session=$target
else
  matches=$(grep -E "^SPOT-INGEST-${target//./\\.}-[0-9]{2}_[0-9]{2}_[0-9]{2}$" <<<"$sessions" || true)
  count=$(grep -c . <<<"$matches" || true)
  if [ "$count" -eq 0 ]; then
    echo "error: no session $target, and no SPOT-INGEST-$target-* session running" >&2
    exit 1
  elif [ "$count" -gt 1 ]; then
    echo "error: several sessions of $target run; name one: $(tr '\n' ' ' <<<"$matches")" >&2
    exit 1
  fi
  session=$matches
fi

# Our entry points install their stop handler first thing; a process still starting (the
# interpreter itself loading) would die of a Ctrl-C instead of stopping cleanly: wait until
# each catches SIGINT (its SigCgt mask has bit 2), for at most 30 s.
catches_sigint() {
  local mask
  mask=$(awk '/^SigCgt:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$mask" ] && (( 0x$mask & 2 ))
}
windows=$(tmux list-windows -t "=$session" -F '#{window_name}')
for window in $windows; do
  ready=$((SECONDS + 30))
  while [ "$(tmux display-message -p -t "=$session:$window" '#{pane_dead}')" != 1 ] &&
        ! catches_sigint "$(tmux display-message -p -t "=$session:$window" '#{pane_pid}')" &&
        [ $SECONDS -lt $ready ]; do
    sleep 0.1
  done
done
for window in $windows; do                  # the master is the first window
  tmux send-keys -t "=$session:$window" C-c
done

deadline=$((SECONDS + timeout))
killed=0
for window in $windows; do
  while [ "$(tmux display-message -p -t "=$session:$window" '#{pane_dead}')" != 1 ]; do
    if [ $SECONDS -ge $deadline ]; then
      pid=$(tmux display-message -p -t "=$session:$window" '#{pane_pid}')
      echo "$window: still running ${timeout} s after Ctrl-C; killing it (pid $pid)" >&2
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      killed=1
      sleep 1
      break
    fi
    sleep 0.5
  done
done

status=0
for window in $windows; do
  code=$(tmux display-message -p -t "=$session:$window" '#{pane_dead_status}')
  sig=$(tmux display-message -p -t "=$session:$window" '#{pane_dead_signal}')
  if [ -n "$sig" ] && [ "$sig" != 0 ]; then
    echo "$window: killed by signal $sig"
  else
    echo "$window: exit status ${code:-0}"
    [ "${code:-0}" = 0 ] || status=2
  fi
done
tmux kill-session -t "=$session"
echo "session $session closed"
[ $killed -eq 0 ] || exit 3
exit $status
