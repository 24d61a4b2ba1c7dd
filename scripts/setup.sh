#!/usr/bin/env bash
# Installs what Portcullis needs and records where each tool is.
# Idempotent: a second run (or a fresh clone elsewhere on the same machine) reuses the cache.
# Writes .portcullis/toolchain.json, which the test harness and `portcullis demo` read.
set -euo pipefail

OPA_VERSION="v1.22.3"
NATS_VERSION="v2.10.29"          # only built when no nats-server >= 2.9 is installed
KUSTOMIZE_VERSION="v5.8.1"       # renders deploy/kubernetes (the manifests test)
KUBECONFORM_VERSION="v0.7.0"     # validates the rendered manifests
K8S_SCHEMA_VERSION="v1.34.2"     # k8s.io/kubernetes: its api/openapi-spec/swagger.json → JSON schemas
PG_MIN_MAJOR=14

root=$(cd "$(dirname "$0")/.." && pwd)
cache="${PORTCULLIS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portcullis}"
bin_cache="$cache/bin"
mkdir -p "$bin_cache" "$root/.portcullis"

say()  { printf '  %-14s %s\n' "$1" "$2"; }
fail() { printf 'setup: %s\n' "$1" >&2; exit 1; }
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }

echo "portcullis setup (cache: $cache)"

# --- node and npm packages -------------------------------------------------------------
command -v node >/dev/null || fail "node is missing: install Node.js 20.19+ (e.g. apt-get install nodejs) and run make setup again"
node_version=$(node --version)
case "$node_version" in
  v20.19.*|v20.2[0-9].*|v2[2-9].*) ;;
  *) fail "node $node_version is too old: Portcullis needs Node.js 20.19 or newer" ;;
esac
say node "$node_version"
lock_hash=$(sha256sum "$root/package-lock.json" | cut -c1-16)
if [ ! -f "$root/node_modules/.portcullis-lock-$lock_hash" ]; then
  t=$(date +%s)
  echo "  npm ci (first run builds better-sqlite3 from source, about 3 minutes)…"
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci failed: see the output above"
  rm -f "$root"/node_modules/.portcullis-lock-*
  touch "$root/node_modules/.portcullis-lock-$lock_hash"
  say npm-packages "installed in $(elapsed "$t")"
else
  say npm-packages "up to date"
fi

# --- opa ---------------------------------------------------------------------------------
opa=""
if command -v opa >/dev/null && [ "$(opa version 2>/dev/null | sed -n 's/^Version: //p')" = "${OPA_VERSION#v}" ]; then
  opa=$(command -v opa)
elif [ -x "$bin_cache/opa-$OPA_VERSION/opa" ]; then
  opa="$bin_cache/opa-$OPA_VERSION/opa"
else
  command -v go >/dev/null || fail "opa $OPA_VERSION is missing and go is not installed: install Go 1.24+ or put opa $OPA_VERSION on PATH"
  t=$(date +%s)
  echo "  building opa $OPA_VERSION with go install (about a minute)…"
  CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="$bin_cache/opa-$OPA_VERSION.tmp" \
    go install "github.com/open-policy-agent/opa@$OPA_VERSION" || fail "go install of opa $OPA_VERSION failed: see the output above"
  rm -rf "$bin_cache/opa-$OPA_VERSION" && mv "$bin_cache/opa-$OPA_VERSION.tmp" "$bin_cache/opa-$OPA_VERSION"
  opa="$bin_cache/opa-$OPA_VERSION/opa"
  echo "  opa built in $(elapsed "$t")"
fi
say opa "$($opa version | sed -n 's/^Version: //p') ($opa)"

# --- nats-server -------------------------------------------------------------------------
nats_ok() { # nats-server >= 2.9 has everything JetStream KV and Object Store need
  local v; v=$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
  [ -n "$v" ] && set -- $v && { [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 9 ]; }; }
}
nats=""
for candidate in "$(command -v nats-server || true)" /usr/sbin/nats-server /usr/bin/nats-server "$bin_cache/nats-server-$NATS_VERSION/nats-server"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && nats_ok "$candidate"; then nats="$candidate"; break; fi
done
if [ -z "$nats" ]; then
  command -v go >/dev/null || fail "nats-server is missing: apt-get install nats-server, or install Go so setup can build $NATS_VERSION"
  t=$(date +%s)
  echo "  building nats-server $NATS_VERSION with go install…"
  CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="$bin_cache/nats-server-$NATS_VERSION" \
    go install "github.com/nats-io/nats-server/v2@$NATS_VERSION" || fail "go install of nats-server failed: see the output above"
  nats="$bin_cache/nats-server-$NATS_VERSION/nats-server"
  echo "  nats-server built in $(elapsed "$t")"
fi
say nats-server "$("$nats" --version | awk '{print $2}') ($nats)"

# --- PostgreSQL ----------------------------------------------------------------------------
find_pg_bindir() {
  local d
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    d=$(dirname "$(readlink -f "$(command -v initdb)")"); [ -x "$d/postgres" ] && { echo "$d"; return; }
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) /usr/local/pgsql/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
  done
}
pg_bindir=$(find_pg_bindir || true)
if [ -z "$pg_bindir" ] || ! command -v psql >/dev/null || ! command -v pgbench >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "  installing PostgreSQL from the system packages…"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib postgresql-client) >/dev/null \
      || fail "apt-get install postgresql failed: install the PostgreSQL server, psql and pgbench, then run make setup again"
    pg_bindir=$(find_pg_bindir || true)
  fi
fi
[ -n "$pg_bindir" ] || fail "PostgreSQL server binaries (initdb, postgres, pg_ctl) not found: install them (Debian: apt-get install postgresql) and run make setup again"
psql_bin=$(command -v psql || echo "$pg_bindir/psql"); pgbench_bin=$(command -v pgbench || echo "$pg_bindir/pgbench")
[ -x "$psql_bin" ] || fail "psql not found: install postgresql-client"
[ -x "$pgbench_bin" ] || fail "pgbench not found: install postgresql-contrib (Debian) or your distribution's pgbench"
pg_version=$("$pg_bindir/postgres" --version | awk '{print $3}')
[ "${pg_version%%.*}" -ge "$PG_MIN_MAJOR" ] || fail "PostgreSQL $pg_version is too old: Portcullis is tested on $PG_MIN_MAJOR and newer"
say postgres "$pg_version ($pg_bindir)"
say psql "$("$psql_bin" --version | awk '{print $3}') ($psql_bin)"
say pgbench "$("$pgbench_bin" --version | awk '{print $3}') ($pgbench_bin)"

# --- chromium (the console's browser tests drive it headless; no browser is downloaded) -----
chromium_bin=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium_bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  t=$(date +%s)
  echo "  installing chromium from the system packages (the console's browser tests)…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
    || fail "apt-get install chromium failed: install Chromium (Debian: apt-get install chromium) and run make setup again"
  chromium_bin=$(command -v chromium || true)
  echo "  chromium installed in $(elapsed "$t")"
fi
[ -n "$chromium_bin" ] || fail "chromium not found: the console's browser tests need it (Debian: apt-get install chromium)"
say chromium "$("$chromium_bin" --version 2>/dev/null | awk '{print $2}') ($chromium_bin)"

# --- kustomize, kubeconform and the Kubernetes schemas (deploy/kubernetes, validated offline) ----
# Both tools are built with go install, like opa. kubeconform's schemas are usually downloaded from
# the web; here they are made from the official OpenAPI document, which the k8s.io/kubernetes Go
# module carries (api/openapi-spec/swagger.json), so only the Go module proxy is needed.
go_tool() { # name module version: echoes the binary, building it into the cache when missing
  local name=$1 module=$2 version=$3 t
  if [ ! -x "$bin_cache/$name-$version/$name" ]; then
    command -v go >/dev/null || fail "$name $version is missing and go is not installed: install Go 1.24+"
    t=$(date +%s)
    echo "  building $name $version with go install…" >&2
    CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="$bin_cache/$name-$version.tmp" \
      go install "$module@$version" >&2 || fail "go install of $name $version failed: see the output above"
    rm -rf "$bin_cache/$name-$version" && mv "$bin_cache/$name-$version.tmp" "$bin_cache/$name-$version"
    echo "  $name built in $(elapsed "$t")" >&2
  fi
  echo "$bin_cache/$name-$version/$name"
}
kustomize=$(go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION")
say kustomize "$("$kustomize" version) ($kustomize)"
kubeconform=$(go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION")
say kubeconform "$KUBECONFORM_VERSION ($kubeconform)"
k8s_schemas="$cache/k8s-schemas-$K8S_SCHEMA_VERSION"
if [ ! -f "$k8s_schemas/master-standalone-strict/deployment-apps-v1.json" ]; then
  command -v go >/dev/null || fail "the Kubernetes $K8S_SCHEMA_VERSION schemas are missing and go is not installed: install Go 1.24+"
  t=$(date +%s)
  echo "  fetching the Kubernetes $K8S_SCHEMA_VERSION OpenAPI document (Go module k8s.io/kubernetes)…"
  k8s_dir=$(cd "$cache" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_SCHEMA_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || true
  [ -f "$k8s_dir/api/openapi-spec/swagger.json" ] || fail "go mod download k8s.io/kubernetes@$K8S_SCHEMA_VERSION failed: see the output above"
  node "$root/scripts/k8s-json-schemas.mjs" "$k8s_dir/api/openapi-spec/swagger.json" "$k8s_schemas" >/dev/null \
    || fail "making the Kubernetes JSON schemas failed: see the output above"
  echo "  Kubernetes schemas made in $(elapsed "$t")"
fi
say k8s-schemas "$K8S_SCHEMA_VERSION ($k8s_schemas)"

# --- record ----------------------------------------------------------------------------------
cat > "$root/.portcullis/toolchain.json.tmp" <<JSON
{
  "opa": "$opa",
  "natsServer": "$nats",
  "pgBinDir": "$pg_bindir",
  "psql": "$psql_bin",
  "pgbench": "$pgbench_bin",
  "chromium": "$chromium_bin",
  "kustomize": "$kustomize",
  "kubeconform": "$kubeconform",
  "k8sSchemas": "$k8s_schemas"
}
JSON
mv "$root/.portcullis/toolchain.json.tmp" "$root/.portcullis/toolchain.json"
echo "setup: ready (.portcullis/toolchain.json)"
