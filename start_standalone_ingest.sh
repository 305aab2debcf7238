#!/usr/bin/env bash
# One tmux session holding the master and the workers of one pipeline configuration.
#
#   bash start_standalone_ingest.sh PIPELINE WORKERS [TZ] [-c CONF]     (-c anywhere)
#
# The session is SPOT-INGEST-<pipeline>-<HH_MM_SS>. The master and the workers use the
# pipeline's own topic, created by its first start and reused by every later one, so what a
# stopped session left unread is read by the next. One master per collector folder: a second
# session of a pipeline whose master runs is refused, naming it. A proxy pipeline gets one
# worker window running its Spark job with -p WORKERS.
# Stop it with `bash stop_standalone_ingest.sh SESSION` (or PIPELINE). The configuration is
# -c CONF, else $SPOT_INGEST_CONF, else ingest_conf.json.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage="usage: bash start_standalone_ingest.sh PIPELINE WORKERS [TZ] [-c CONF]"
conf=()
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -c|--config)
      [ -n "${2:-}" ] || { echo "error: $1 needs a path" >&2; exit 1; }
      conf=(-c "$(realpath -m -- "$2")")
      shift 2 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ ${#conf[@]} -eq 0 ] && [ -n "${SPOT_INGEST_CONF:-}" ]; then
  conf=(-c "$SPOT_INGEST_CONF")
fi
[ ${#args[@]} -ge 2 ] && [ ${#args[@]} -le 3 ] || { echo "$usage" >&2; exit 1; }
pipeline=${args[0]}
workers=${args[1]}
tz=${args[2]:-${TZ:-UTC}}

[[ $pipeline =~ ^[a-z0-9][a-z0-9_-]*$ ]] || { echo "error: pipeline name '$pipeline' must be lowercase without spaces" >&2; exit 1; }
[[ $workers =~ ^[1-9][0-9]*$ ]] || { echo "error: WORKERS: expected a positive integer, got '$workers'" >&2; exit 1; }
command -v tmux >/dev/null || { echo "error: tmux is not installed (run make setup)" >&2; exit 1; }

python=${SPOT_PYTHON:-$here/.venv/bin/python}
[ -x "$python" ] || python=python3
stamp=$(date +%H_%M_%S)
session="SPOT-INGEST-$pipeline-$stamp"

# Configuration, pipeline, arguments, tools, that no master watches the folder, Kafka and the
# metastore: all checked before anything is opened (one line on failure, naming what is
# wrong). The check names the pipeline's topic.
check=$(TZ="$tz" "$python" "$here/master_collector.py" -t "$pipeline" -w "$workers" \
        "${conf[@]}" --check) || exit 1
type=$(sed -n 's/.*(\(flow\|dns\|proxy\)) OK$/\1/p' <<<"$check")
topic=$(sed -n 's/^topic \(.*\)$/\1/p' <<<"$check")

if tmux has-session -t "=$session" 2>/dev/null; then
  echo "error: tmux session $session already exists (tmux attach -t $session)" >&2
  exit 1
fi

# Commands are argument lists run directly by tmux, never a shell string built from data.
# Each window stays open after its process ends, so its last words (and exit status) remain.
tmux new-session -d -s "$session" -n master -c "$here" -e "TZ=$tz" \
  "$python" master_collector.py -t "$pipeline" -w "$workers" -id "$topic" "${conf[@]}"
tmux set-option -w -t "=$session:master" remain-on-exit on

# The workers start once the master holds the collector folder and has its topic ready (its
# first line names it): a second launcher is then refused at its check, and a master that
# cannot start (its topic refused, say) is reported here, with its own last words.
deadline=$((SECONDS + 300))
while :; do
  screen=$(tmux capture-pane -p -J -S - -t "=$session:master" 2>/dev/null || true)
  grep -qF "topic $topic (" <<<"$screen" && break
  dead=$(tmux display-message -p -t "=$session:master" '#{pane_dead}' 2>/dev/null || echo 1)
  if [ "$dead" = 1 ] || [ $SECONDS -ge $deadline ]; then
    echo "error: the master of $pipeline did not start; its last words:" >&2
    grep -v -e '^$' -e '^Pane is dead' <<<"$screen" | tail -n 5 >&2
    tmux kill-session -t "=$session" 2>/dev/null || true
    exit 1
  fi
  sleep 0.2
done

if [ "$type" = proxy ]; then
  tmux new-window -d -t "=$session" -n worker -c "$here" -e "TZ=$tz" \
    "$python" worker.py -t "$pipeline" -i 0 --topic "$topic" -p "$workers" "${conf[@]}"
  tmux set-option -w -t "=$session:worker" remain-on-exit on
  shape="master + the Spark job (local[$workers] unless spark_master is set)"
else
  for ((i = 0; i < workers; i++)); do
    tmux new-window -d -t "=$session" -n "worker-$i" -c "$here" -e "TZ=$tz" \
      "$python" worker.py -t "$pipeline" -i "$i" --topic "$topic" "${conf[@]}"
    tmux set-option -w -t "=$session:worker-$i" remain-on-exit on
  done
  shape="master + $workers worker(s)"
fi
echo "tmux session $session: $shape on topic $topic (TZ=$tz)"
echo "attach with: tmux attach -t $session"
echo "stop with:   bash $here/stop_standalone_ingest.sh $session"
