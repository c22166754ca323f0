#!/usr/bin/env bash
# Installs what plastrond and its tests need on a Debian machine (bookworm):
# Debian packages, the Maven artifacts for Fedora, and plastrond itself with its test and dev
# extras in .venv/. Safe to run again: it only does what is missing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../services/common.sh"

# activemq: the broker; openssh-server: sftp for export/import; ruby-stomp: Archelon's client;
# Java 17 and Maven: Fedora, the Camel status route and their downloads; python3-venv: the virtual environment;
# chromium: the http mode's page test; wrk: bench/bench_http.py's load generator;
# prometheus: services/prometheus.sh scrapes both modes in the tests (and promtool checks them);
# zip, p7zip-full, libarchive-tools (bsdtar) and ant: the ZIP tools whose archives the import's
# name tests are made with (ant's <zip> writes the names as Windows' compressed folders do).
need_debs activemq openssh-server ruby-stomp curl openjdk-17-jre-headless maven python3-venv \
  chromium wrk unzip prometheus zip p7zip-full libarchive-tools ant

# podman builds and runs the image (tests/integration/test_container_image.py): runc runs the
# containers, netavark (with aardvark-dns and iptables) is the network of the build's RUN steps,
# slirp4netns that of the containers in the test (with the host's loopback at 10.0.2.2).
need_debs podman runc netavark aardvark-dns iptables slirp4netns
# The Dockerfile's base image. Docker Hub is not reachable from the CI machines: there, the
# shared tools beside the checkout make a local stand-in of the same name (about a minute).
BASE_IMAGE="$(awk '$1 == "FROM" { print $2; exit }' "$REPO_DIR/Dockerfile")"
case "$BASE_IMAGE" in */*) ;; *) BASE_IMAGE="docker.io/library/$BASE_IMAGE" ;; esac
if ! podman image exists "$BASE_IMAGE"; then
  stand_in="$REPO_DIR/../shared/tools/container-base.sh"
  if [ -f "$stand_in" ]; then
    log "making $BASE_IMAGE locally ($stand_in)"
    bash "$stand_in" >/dev/null || die "$stand_in failed (its logs are /tmp/container-base-*.log)"
  else
    log "pulling $BASE_IMAGE"
    podman pull -q "$BASE_IMAGE" >/dev/null || die "cannot pull $BASE_IMAGE, the Dockerfile's base image"
  fi
  podman image exists "$BASE_IMAGE" || die "no $BASE_IMAGE after making it"
fi

# Apache Camel with the status route's components (services/camel.sh, integration tests only)
bash "$SERVICES_DIR/camel.sh" fetch
maven_fetch "org.fcrepo:fcrepo-webapp:$FCREPO_VERSION:war" "fcrepo-webapp-$FCREPO_VERSION.war" >/dev/null
# Fedora 4.7 (services/fedora47.sh): its war and the authorization module it runs with
maven_fetch "org.fcrepo:fcrepo-webapp:$FCREPO47_VERSION:war" "fcrepo-webapp-$FCREPO47_VERSION.war" >/dev/null
for part in common basic; do
  maven_fetch "org.fcrepo:fcrepo-auth-roles-$part:$FCREPO47_VERSION" \
    "fcrepo-auth-roles-$part-$FCREPO47_VERSION.jar" >/dev/null
done
maven_fetch "org.eclipse.jetty:jetty-runner:$JETTY_RUNNER_VERSION" \
  "jetty-runner-$JETTY_RUNNER_VERSION.jar" >/dev/null

# UMD's handle service, umd-handle-django, from ../shared/counterparts: its virtual environment
# (Django and the rest from PyPI), database and token in the services' state folder, so that
# the tests' first start of it only launches it (openssl makes the key its SAML settings need).
need_debs openssl
bash "$SERVICES_DIR/handles.sh" install

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "plastrond needs Python 3.11 or newer; $PYTHON is $("$PYTHON" -V 2>&1)"
VENV="$REPO_DIR/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed-$(cat "$REPO_DIR/pyproject.toml" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  log "installing plastrond with its test and dev extras into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$REPO_DIR[test,dev,bench]"
  rm -f "$VENV"/.installed-* && touch "$stamp"
fi

# kustomize renders deploy/kubernetes/ in the tests; built from the Go module proxy with the
# machine's Go (v5.7.1 is the newest that builds with Go 1.26) into the virtual environment.
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.7.1}"
if ! "$VENV/bin/kustomize" version 2>/dev/null | grep -q "$KUSTOMIZE_VERSION"; then
  GO="$(command -v go || true)"
  [ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; } \
    || die "kustomize is built with Go; install Go (1.24 or newer) first"
  log "building kustomize $KUSTOMIZE_VERSION into $VENV/bin"
  GOBIN="$VENV/bin" GOFLAGS=-mod=mod "$GO" install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi
