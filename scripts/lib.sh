# Shared settings of the scripts. Every value can be overridden from the
# environment; the defaults are the ones documented in docs/api.md.
LETHE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
# The local 3-broker cluster (scripts/kafka-cluster): node N listens on
# CLUSTER_PORT + N - 1, its controller on CLUSTER_CONTROLLER_PORT + N - 1.
CLUSTER_PORT="${CLUSTER_PORT:-19192}"
CLUSTER_CONTROLLER_PORT="${CLUSTER_CONTROLLER_PORT:-19292}"
PG_PORT="${PG_PORT:-55432}"
KEYRING_PORT="${KEYRING_PORT:-55433}"
VAR_DIR="${LETHE_VAR_DIR:-$LETHE_ROOT/.lethe}"
KAFKA_LIBS="$VAR_DIR/kafka-libs"
JAVA_MIRROR_LIBS="$VAR_DIR/java-mirror-libs"
BUILD_DIR="${LETHE_BUILD_DIR:-$LETHE_ROOT/build}"
export LETHE_BROKERS="${LETHE_BROKERS:-127.0.0.1:$KAFKA_PORT}"
export LETHE_PG="${LETHE_PG:-postgresql://postgres@127.0.0.1:$PG_PORT/lethe}"
# The keyring runs apart from the data, on a PostgreSQL cluster of its own
# (scripts/postgres starts both), so that the data's base backups, dumps and
# WAL hold no key. LETHE_KEYRING_PG= (empty) keeps the keys in the data
# database instead.
export LETHE_KEYRING_PG="${LETHE_KEYRING_PG-postgresql://postgres@127.0.0.1:$KEYRING_PORT/lethe_keyring}"

# Keys that live outside the database: the email blind index's, and the
# master key that wraps every person's key (serve, the relay and the
# projector refuse to start without one). Local runs keep each under .lethe/
# (made once, readable by the owner only); production sets the *_FILE
# variable to its own, kept apart from the database and its backups.
# ensure_key_file FILE_VAR VALUE_VAR NAME: exports FILE_VAR unless either is set.
ensure_key_file() {
  local file_var="$1" value_var="$2" name="$3"
  if [[ -z "${!file_var:-}" && -z "${!value_var:-}" ]]; then
    export "$file_var=$VAR_DIR/$name"
    if [[ ! -f "$VAR_DIR/$name" ]]; then
      mkdir -p "$VAR_DIR"
      (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$VAR_DIR/$name")
    fi
  fi
}
ensure_index_key() { ensure_key_file LETHE_INDEX_KEY_FILE LETHE_INDEX_KEY index.key; }
ensure_master_key() { ensure_key_file LETHE_MASTER_KEY_FILE LETHE_MASTER_KEY master.key; }

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Prints who listens on TCP port $1 (empty if nobody, or if ss is missing:
# scripts/setup installs it with iproute2).
port_listener() {
  command -v ss >/dev/null || return 0
  ss -Hltnp "sport = :$1" 2>/dev/null | awk '{ print $4, $6 }' || true
}

# Closes every file descriptor above 2 in the calling (sub)shell. A daemon
# started from a script must not keep its caller's descriptors open: one of
# them may hold a lock (flock(1) around a test run), which the daemon would
# then hold for as long as it lives. Call it in the subshell that execs the
# daemon.
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd="${fd##*/}"
    if ((fd > 2)); then eval "exec ${fd}>&-" 2>/dev/null || true; fi
  done
}
