#!/usr/bin/env bash
# Times `sakila-sync validate` on the real Sakila: loads the dump into a private database,
# full-loads a fresh warehouse, then runs `validate --days 7` RUNS times (after one warm-up
# run) and prints min / median / max wall time. The private database is dropped at the end.
#
#   SAKILA_DUMP_DIR=/work/shared/sakila cargo build --release && bench/validate.sh
#
# Env: SAKILA_DUMP_DIR (required), RUNS (default 10), BIN (default
# $CARGO_TARGET_DIR/release/sakila-sync), MYSQL (client command, default mariadb on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
dump=${SAKILA_DUMP_DIR:?set SAKILA_DUMP_DIR to the folder holding sakila-schema.sql and sakila-data.sql}
runs=${RUNS:-10}
bin=${BIN:-${CARGO_TARGET_DIR:-target}/release/sakila-sync}
mysql=${MYSQL:-mariadb -h127.0.0.1 -P3306 -uroot --protocol=TCP}
db=bench_validate_$$
out=bench/out/validate
mkdir -p "$out"
trap '$mysql -e "DROP DATABASE IF EXISTS $db"' EXIT

{ sed "s/\bsakila\b/$db/g" "$dump/sakila-schema.sql"; sed "s/\bsakila\b/$db/g" "$dump/sakila-data.sql"; } | $mysql
export SAKILA_SOURCE_URL="mysql://root@127.0.0.1:3306/$db"
export SAKILA_WAREHOUSE_URL="sqlite://$out/warehouse.db"
rm -f "$out"/warehouse.db*
"$bin" full-load >/dev/null
"$bin" validate --days 7 >/dev/null # warm-up; fails the script if the warehouse is not clean
for _ in $(seq "$runs"); do
    /usr/bin/time -f %e -o "$out/time" "$bin" validate --days 7 >/dev/null
    cat "$out/time"
done | sort -n | awk '{ t[NR] = $1 } END { printf "validate --days 7 on real Sakila, %d runs: min %.2f s, median %.2f s, max %.2f s\n", NR, t[1], t[int((NR + 1) / 2)], t[NR] }'
