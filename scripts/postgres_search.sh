#!/bin/sh
# A search shared through a real PostgreSQL server, as on several machines, here on one:
# starts a throwaway server in runs/postgres (port $PGPORT, default 54329), runs two
# independent `search.py` commands against its URL (what two machines would run), prints
# the study, and stops the server. Needs the PostgreSQL server programs (Debian/Ubuntu:
# `apt-get install postgresql`) and the virtual environment (`make venv`). Each trial records
# its worker (host:pid): a worker killed on one machine has its trial failed and queued again
# when a search restarts on that machine, or by any machine once its heartbeat is `grace`
# seconds old. Run from the repository root:
#   sh scripts/postgres_search.sh  [experiment] [trials]
set -eu
EXPERIMENT=${1:-two-layer}
TRIALS=${2:-12}
PORT=${PGPORT:-54329}
PY=${PY:-.venv/bin/python}
BIN=$(dirname "$(readlink -f "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | tail -n 1)")")
DATA=$PWD/runs/postgres
URL=postgresql+psycopg2://hw5@127.0.0.1:$PORT/hw5

# PostgreSQL refuses to run as root: then the server runs as the 'postgres' user.
as_server() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

rm -rf "$DATA" && mkdir -p "$DATA"
[ "$(id -u)" = 0 ] && chown postgres "$DATA"
as_server "$BIN/initdb" -D "$DATA" -U hw5 --auth=trust > "$DATA.initdb.log"
as_server "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
    -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1" start
trap 'as_server "$BIN/pg_ctl" -D "$DATA" -m fast stop' EXIT
as_server "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U hw5 hw5

# Create the study once, so that the workers starting together only load it.
$PY -c "import search; search.open_study('$EXPERIMENT', 'coarse', '$URL')"
echo "server up: $URL; two workers (one per 'machine'), $TRIALS trials in all"
start=$(date +%s)
$PY search.py "$EXPERIMENT" --trials "$TRIALS" --storage "$URL" --seed 1 &
$PY search.py "$EXPERIMENT" --trials "$TRIALS" --storage "$URL" --seed 2 &
wait
echo "both workers done in $(( $(date +%s) - start )) s"
$PY -c "
import optuna, search
study = optuna.load_study(study_name=search.study_name('$EXPERIMENT', 'coarse'), storage='$URL')
rows = search.trials_table(study)
print(len(rows), 'trials from workers', sorted({r['worker'] for r in rows}))
print('best validation accuracy', round(study.best_value, 4), study.best_params)"
