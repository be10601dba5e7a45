#!/usr/bin/env bash
# Prepare a container engine for edgeopt's container tests and image builds, from nothing, and
# print the environment to use it:
#
#   eval "$(bash scripts/ci-container-engine.sh)"     # sets DOCKER_HOST and EDGEOPT_PYTHON_IMAGE
#
# A Docker (or other) engine already answering at DOCKER_HOST or /var/run/docker.sock is used as it is.
# Otherwise, as root on Debian 12 without a container registry (CI here): podman with the settings
# this machine needs, a Python base image made with debootstrap, and podman's Docker-compatible API
# on $SOCKET. Every step checks first, so running it again changes nothing.
# Why each setting: podman's default runtime crun refuses hybrid cgroup layouts (runc works); root
# here cannot raise rlimits above podman's defaults; package downloads inside builds need the host
# CA bundle, which podman copies into each container at run time and never into image layers;
# podman 4.3's auto-remove is worked around in components/edgeopt/containers/docker_runner.py, not here.
set -euo pipefail

SOCKET=${EDGEOPT_PODMAN_SOCKET:-/tmp/podman.sock}
PY_IMAGE=${EDGEOPT_LOCAL_PYTHON_IMAGE:-localhost/debian-base:bookworm}
ROOTFS=${ROOTFS:-/tmp/edgeopt-debroot}
LOG=${EDGEOPT_ENGINE_LOG:-/tmp/edgeopt-podman-service.log}
say() { echo "[container-engine] $*" >&2; }

api_answers() {  # $1: unix socket path
  [ -S "$1" ] && python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
sys.exit(0 if b" 200 " in s.recv(200) else 1)
PY
}

# 0. a Docker engine that already answers (where podman is installed, podman is set up instead)
existing=${DOCKER_HOST:-unix:///var/run/docker.sock}
if [[ $existing == unix://* ]] && api_answers "${existing#unix://}" && ! command -v podman >/dev/null; then
  say "using the engine at $existing"
  echo "export DOCKER_HOST=$existing"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  say "no engine answers at $existing and this is not root: start Docker or podman yourself"
  exit 1
fi

# 1. packages (Debian 12: podman 4.3.1, runc 1.1.5)
need=()
for cmd in podman runc debootstrap; do command -v "$cmd" >/dev/null || need+=("$cmd"); done
command -v buildah >/dev/null || need+=(buildah)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq podman buildah runc debootstrap >/dev/null
fi

# 2. engine settings (written only when different)
write_if_changed() {  # $1: path; content on stdin
  local tmp; tmp=$(mktemp)
  cat > "$tmp"
  if ! cmp -s "$tmp" "$1" 2>/dev/null; then
    mkdir -p "$(dirname "$1")"; mv "$tmp" "$1"; say "wrote $1"
  else
    rm -f "$tmp"
  fi
}
write_if_changed /etc/containers/containers.conf <<'EOF'
[containers]
default_ulimits = [
  "nofile=20000:20000",
  "nproc=4096:4096",
]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  write_if_changed /etc/containers/mounts.conf <<'EOF'
/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt
EOF
fi

# 3. a Python 3.11 image without a registry: Debian bookworm's minimal system plus python3-venv
if ! podman image exists "$PY_IMAGE"; then
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  mirror=${mirror:-$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)}
  say "making $PY_IMAGE with debootstrap from ${mirror:-the default mirror} (about a minute)"
  rm -rf "$ROOTFS"; mkdir -p "$(dirname "$ROOTFS")"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
      bookworm "$ROOTFS" ${mirror:+"$mirror"} >/dev/null
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin \
         "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/*
  tar --numeric-owner --xattrs -C "$ROOTFS" -c . | podman import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$PY_IMAGE" >/dev/null
  rm -rf "$ROOTFS"
fi

# 4. podman's Docker-compatible API
started_pid=""
if ! api_answers "$SOCKET"; then
  rm -f "$SOCKET"
  say "starting podman system service on unix://$SOCKET (log $LOG)"
  nohup podman system service --time=0 "unix://$SOCKET" >"$LOG" 2>&1 &
  echo $! > "$SOCKET.pid"
  started_pid=$!
  for _ in $(seq 1 50); do api_answers "$SOCKET" && break; sleep 0.2; done
  api_answers "$SOCKET" || { say "podman's API did not come up; see $LOG"; exit 1; }
fi

# 5. smoke test: a container runs, as a non-root user too
podman run --rm --user 10001:10001 "$PY_IMAGE" python3 -c 'import venv, ssl' >/dev/null
say "ready: podman $(podman version --format '{{.Client.Version}}'), base $PY_IMAGE"
echo "export DOCKER_HOST=unix://$SOCKET"
echo "export EDGEOPT_PYTHON_IMAGE=$PY_IMAGE"
# the API service this run started (stop it when done: kill "$EDGEOPT_ENGINE_PID"); empty if it was running
echo "export EDGEOPT_ENGINE_PID=${started_pid:-}"
