#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 with trust auth, that the
# current OS user has a (superuser) role, and that database `test` exists.
# The test suite connects with LABELNB_TEST_PG_URL=postgresql://127.0.0.1/test,
# i.e. as the current OS user.
#
# Idempotent and quiet when all is well. When PostgreSQL is not installed at all it
# fails under CI (CI=true); outside CI it tries `apt-get install postgresql`.
set -euo pipefail

PGHOST_ADDR=127.0.0.1
PGPORT_NUM=5432
DBNAME=${ENSURE_PG_DB:-test}
DBUSER=$(id -un)

log() { echo "ensure_postgres: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
else
    SUDO=()
fi

# Client/server binaries may only be under /usr/lib/postgresql/<ver>/bin.
add_pg_bin_to_path() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        PATH="$PATH:$d"
    done
    export PATH
}
add_pg_bin_to_path

pg_installed() {
    command -v pg_lsclusters >/dev/null 2>&1 && [ -d /etc/postgresql ] \
        && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1
}

is_ready() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$PGHOST_ADDR" -p "$PGPORT_NUM" >/dev/null 2>&1
    else
        return 1
    fi
}

wait_ready() {
    local i
    for i in $(seq 1 30); do
        if is_ready; then return 0; fi
        sleep 1
    done
    return 1
}

# Version of the cluster "main" (preferring the one on our port), else the newest.
cluster_version() {
    local v
    v=$(pg_lsclusters -h 2>/dev/null | awk -v p="$PGPORT_NUM" '$2=="main" && $3==p {print $1}' | sort -V | tail -n1)
    if [ -z "$v" ]; then
        v=$(pg_lsclusters -h 2>/dev/null | awk '$2=="main" {print $1}' | sort -V | tail -n1)
    fi
    if [ -z "$v" ] && [ -d /etc/postgresql ]; then
        v=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
    fi
    echo "$v"
}

# Newest installed server version (for creating a cluster when none exists).
server_version() {
    ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sed -E 's#/usr/lib/postgresql/([^/]+)/.*#\1#' \
        | sort -V | tail -n1
}

install_postgres() {
    if [ -n "${CI:-}" ]; then
        die "PostgreSQL is not installed on this CI machine (expected a server on ${PGHOST_ADDR}:${PGPORT_NUM})."
    fi
    if [ "$(id -u)" -ne 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
        die "PostgreSQL is not installed and we are neither root nor have sudo; install it with: apt-get install -y postgresql"
    fi
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is unavailable."
    log "PostgreSQL not found; installing it with apt-get..."
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql </dev/null >/dev/null
    add_pg_bin_to_path
}

start_cluster() {
    local ver
    ver=$(cluster_version)
    if [ -z "$ver" ] || [ ! -d "/etc/postgresql/$ver/main" ]; then
        ver=$(server_version)
        [ -n "$ver" ] || die "no PostgreSQL server binaries found under /usr/lib/postgresql."
        log "creating cluster $ver/main on port $PGPORT_NUM"
        "${SUDO[@]}" pg_createcluster --port "$PGPORT_NUM" "$ver" main >/dev/null
    fi
    log "starting cluster $ver/main"
    "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$ver" main start \
        || log "pg_ctlcluster start returned non-zero; waiting for readiness anyway"
}

# Prepend trust lines for loopback TCP and the local socket, then reload.
configure_trust() {
    local ver hba
    ver=$(cluster_version)
    hba="/etc/postgresql/$ver/main/pg_hba.conf"
    [ -f "$hba" ] || die "cannot find $hba to configure trust auth."
    if ! grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
        log "configuring trust auth for 127.0.0.1 in $hba"
        local tmp
        tmp=$(mktemp)
        {
            echo "# added by labelnb scripts/ensure_postgres.sh (local test server)"
            echo "local   all   all                 trust"
            echo "host    all   all   127.0.0.1/32  trust"
            echo "host    all   all   ::1/128       trust"
            cat "$hba"
        } >"$tmp"
        "${SUDO[@]}" cp "$tmp" "$hba"
        rm -f "$tmp"
        "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >/dev/null 2>&1 || true
        sleep 1
    fi
}

# Run SQL as the postgres superuser: over TCP (trust), else via the local socket.
psql_admin() {
    if psql -X -q -v ON_ERROR_STOP=1 -h "$PGHOST_ADDR" -p "$PGPORT_NUM" -U postgres -d postgres -Atc "$1" 2>/dev/null; then
        return 0
    fi
    if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null 2>&1; then
        runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PGPORT_NUM" -d postgres -Atc "$1"
    elif [ ${#SUDO[@]} -gt 0 ]; then
        sudo -n -u postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PGPORT_NUM" -d postgres -Atc "$1"
    else
        return 1
    fi
}

# --- 1. server installed and running --------------------------------------------
if ! is_ready; then
    if ! pg_installed; then
        install_postgres
        pg_installed || die "PostgreSQL installation did not produce a usable server."
    fi
    if ! is_ready; then
        start_cluster
        wait_ready || die "PostgreSQL did not become ready on ${PGHOST_ADDR}:${PGPORT_NUM} within 30 s
$(pg_lsclusters 2>&1 || true)
$(tail -n 20 /var/log/postgresql/postgresql-*-main.log 2>/dev/null || true)"
    fi
fi

# --- 2. trust auth for 127.0.0.1 --------------------------------------------------
if ! psql -X -h "$PGHOST_ADDR" -p "$PGPORT_NUM" -U postgres -d postgres -w -Atc 'select 1' >/dev/null 2>&1; then
    pg_installed || die "cannot connect to PostgreSQL on ${PGHOST_ADDR}:${PGPORT_NUM} as user postgres (trust auth expected)."
    configure_trust
    psql -X -h "$PGHOST_ADDR" -p "$PGPORT_NUM" -U postgres -d postgres -w -Atc 'select 1' >/dev/null 2>&1 \
        || die "cannot connect to PostgreSQL on ${PGHOST_ADDR}:${PGPORT_NUM} as postgres with trust auth."
fi

# --- 3. role for the current OS user and database `test` ---------------------------
if [ "$DBUSER" != "postgres" ]; then
    if [ "$(psql_admin "select 1 from pg_roles where rolname = '$DBUSER'")" != "1" ]; then
        log "creating superuser role $DBUSER"
        psql_admin "create role \"$DBUSER\" login superuser" >/dev/null
    fi
fi
if [ "$(psql_admin "select 1 from pg_database where datname = '$DBNAME'")" != "1" ]; then
    log "creating database $DBNAME owned by $DBUSER"
    psql_admin "create database \"$DBNAME\" owner \"$DBUSER\"" >/dev/null
fi

# Final check with exactly what the tests will use.
psql -X -w -d "postgresql://${PGHOST_ADDR}:${PGPORT_NUM}/${DBNAME}" -Atc 'select 1' >/dev/null \
    || die "cannot connect to postgresql://${PGHOST_ADDR}:${PGPORT_NUM}/${DBNAME} as $DBUSER."
