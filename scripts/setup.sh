#!/usr/bin/env bash
# Installs everything fswatch's demo and tests need on a fresh Debian 12 machine (as root):
# the real servers the tests start (Samba, nfs-ganesha, rpcbind), systemd-nspawn for the
# booted-systemd tests, libsystemd-dev to build systemd-python, and a venv in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  samba smbclient iptables iproute2 procps
  nfs-ganesha nfs-ganesha-vfs rpcbind nfs-common
  libsystemd-dev pkg-config gcc
  debootstrap systemd-container
  rpm rpmlint shellcheck groff-base man-db cpio
  resource-agents libxml2-utils  # ocf-tester and xmllint, for the OCF agents
  debhelper dh-python pybuild-plugin-pyproject python3-all python3-setuptools python3-wheel lintian  # make deb
  fuse libfuse2  # fusermount + libfuse.so.2 for fusepy: the frozen-storage tests
  locales  # ja_JP sources for localedef: journalctl -x in Japanese (test_units)
  prometheus prometheus-node-exporter  # promtool and node_exporter's textfile collector: the metrics tests
  stress-ng  # bench/soak's CPU, memory and disk load
  strace  # tests/integration/test_watch_cost.py counts a watch's system calls per probe
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's packages start daemons we don't want on a test machine; ours are started by the tests.
for unit in smbd nmbd samba-ad-dc nfs-ganesha rpcbind rpcbind.socket logd prometheus prometheus-node-exporter; do
  systemctl disable --now "$unit" >/dev/null 2>&1 || true
done

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.fswatch-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip wheel >/dev/null
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
echo "setup: ready ($(.venv/bin/python --version), $(smbd --version))"
