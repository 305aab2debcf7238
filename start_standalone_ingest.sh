#!/usr/bin/env bash
# One tmux session holding the master and WORKERS workers of one pipeline configuration.
#
#   bash start_standalone_ingest.sh [-c CONF] PIPELINE WORKERS [TZ]
#
# Attach with `tmux attach -t spot-ingest-PIPELINE`; Ctrl-C in a window stops that process
# cleanly. The configuration is -c CONF, else $SPOT_INGEST_CONF, else ingest_conf.json.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage="usage: bash start_standalone_ingest.sh [-c CONF] PIPELINE WORKERS [TZ]"
conf=()
if [ "${1:-}" = "-c" ] || [ "${1:-}" = "--config" ]; then
  [ -n "${2:-}" ] || { echo "error: $1 needs a path" >&2; exit 1; }
  conf=(-c "$(realpath -m -- "$2")")
  shift 2
elif [ -n "${SPOT_INGEST_CONF:-}" ]; then
  conf=(-c "$SPOT_INGEST_CONF")
fi
pipeline=${1:?$usage}
workers=${2:?$usage}
tz=${3:-${TZ:-UTC}}

[[ $pipeline =~ ^[a-z0-9][a-z0-9_-]*$ ]] || { echo "error: pipeline name '$pipeline' must be lowercase without spaces" >&2; exit 1; }
[[ $workers =~ ^[1-9][0-9]*$ ]] || { echo "error: WORKERS: expected a positive integer, got '$workers'" >&2; exit 1; }
command -v tmux >/dev/null || { echo "error: tmux is not installed (run make setup)" >&2; exit 1; }

python=${SPOT_PYTHON:-$here/.venv/bin/python}
[ -x "$python" ] || python=python3
session="spot-ingest-$pipeline"
topic="SPOT-INGEST-${pipeline}_$(date +%H_%M_%S_%6N)"

# validate the configuration, the pipeline and the arguments before opening anything
"$python" "$here/master_collector.py" -t "$pipeline" -w "$workers" -id "$topic" "${conf[@]}" --check >/dev/null

if tmux has-session -t "=$session" 2>/dev/null; then
  echo "error: tmux session $session already exists (tmux attach -t $session)" >&2
  exit 1
fi

# Commands are argument lists run directly by tmux, never a shell string built from data.
# Each window stays open after its process ends, so its last words can be read.
tmux new-session -d -s "$session" -n master -c "$here" -e "TZ=$tz" \
  "$python" master_collector.py -t "$pipeline" -w "$workers" -id "$topic" "${conf[@]}"
tmux set-option -w -t "=$session:master" remain-on-exit on
for ((i = 0; i < workers; i++)); do
  tmux new-window -d -t "=$session" -n "worker-$i" -c "$here" -e "TZ=$tz" \
    "$python" worker.py -t "$pipeline" -i "$i" --topic "$topic" "${conf[@]}"
  tmux set-option -w -t "=$session:worker-$i" remain-on-exit on
done
echo "tmux session $session: master + $workers worker(s) on topic $topic (TZ=$tz)"
echo "attach with: tmux attach -t $session"
