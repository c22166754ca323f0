# Shared helpers for the service scripts. Source it; do not run it.
# shellcheck shell=bash

SERVICES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SERVICES_DIR/.." && pwd)"
# shellcheck source=versions.env
. "$SERVICES_DIR/versions.env"

# Where running services keep their data, logs and pid files (owned by these scripts).
STATE_DIR="${PLASTROND_SERVICES_STATE:-$REPO_DIR/.services}"
# Downloads survive fresh clones here, so a second run does not fetch again.
CACHE_DIR="${PLASTROND_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/plastrond}"

log() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# need_debs PKG...: install Debian packages that are missing (needs root).
need_debs() {
  local missing=()
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ ! -f "$STATE_DIR/.apt-updated" ] && [ -z "${PLASTROND_SKIP_APT_UPDATE:-}" ]; then
    $sudo apt-get update -q >/dev/null
    mkdir -p "$STATE_DIR" && touch "$STATE_DIR/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# maven_fetch GROUP:ARTIFACT:VERSION[:PACKAGING] FILE: copy an artifact from Maven Central
# into the cache once; prints the cached path.
maven_fetch() {
  local coords="$1" name="$2"
  local dest="$CACHE_DIR/maven/$name"
  if [ ! -s "$dest" ]; then
    command -v mvn >/dev/null || need_debs maven
    mkdir -p "$CACHE_DIR/maven"
    log "fetching $coords from Maven Central"
    local tmp
    tmp="$(mktemp -d)"
    (cd "$tmp" && mvn -q -B dependency:copy -Dartifact="$coords" -DoutputDirectory="$tmp/out" \
        -Dmdep.stripVersion=false >"$tmp/mvn.log" 2>&1) \
      || { cat "$tmp/mvn.log" >&2; rm -rf "$tmp"; die "could not fetch $coords"; }
    mv "$tmp/out/"* "$dest.part" && mv "$dest.part" "$dest"
    rm -rf "$tmp"
  fi
  printf '%s\n' "$dest"
}

# pid_alive FILE: true when FILE names a running process.
pid_alive() {
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds.
wait_until() {
  local limit="$1" what="$2"
  shift 2
  local start=$SECONDS
  until "$@"; do
    if (( SECONDS - start >= limit )); then
      return 1
    fi
    sleep 1
  done
  log "$what ready after $((SECONDS - start)) s"
}
