#!/usr/bin/env bash
# Installs what fswatch's demo (`setup.sh --demo`) or its tests (everything) need on a fresh
# Debian 12 machine (as root): the real servers the tests start (Samba, nfs-ganesha,
# rpcbind), systemd-nspawn for the booted-systemd tests, and a venv in .venv over Debian's
# own python3.
#
# The venv is made by /usr/bin/python3 with --system-site-packages, so the Python modules
# Debian packages serve it: python3-systemd and python3-cryptography (the .deb's Depends:
# tests run on the versions a node runs) and any binding with C code (python3-gssapi). Nothing
# is compiled, so neither python3-dev nor gcc nor libsystemd-dev is needed; pip adds what
# Debian does not ship (smbprotocol, the test tools). Whatever `python3` comes first on PATH
# (a pyenv build on the development machines) is not used: it cannot see Debian's modules.
set -euo pipefail
cd "$(dirname "$0")/.."

# What `make demo` needs: the servers it starts, and the venv's Debian side.
demo_packages=(
  samba smbclient iptables iproute2 procps
  nfs-ganesha nfs-ganesha-vfs rpcbind nfs-common
  python3-venv  # Debian's python3 has no venv module (ensurepip) without it
  python3-systemd python3-cryptography  # fswatch's modules from Debian, seen by the venv (above)
  ca-certificates  # pip fetches from PyPI over https
)
# What the tests need besides (`make demo` skips these: minutes of dpkg on a fresh machine).
test_packages=(
  debootstrap systemd-container
  slirp4netns  # the newcomer test's network (tests/fixtures/newcomer.py)
  rpm rpmlint shellcheck groff-base man-db cpio
  resource-agents libxml2-utils  # ocf-tester and xmllint, for the OCF agents
  debhelper dh-python pybuild-plugin-pyproject python3-all python3-setuptools python3-wheel lintian  # make deb
  fuse libfuse2  # fusermount + libfuse.so.2 for fusepy: the frozen-storage tests
  e2fsprogs mount  # mkfs.ext4, mount -o loop/remount, findmnt: the write canary's ext4 image
  locales  # ja_JP sources for localedef: journalctl -x in Japanese (test_units)
  prometheus prometheus-node-exporter  # promtool and node_exporter's textfile collector: the metrics tests
  stress-ng  # bench/soak's CPU, memory and disk load
  python3-gssapi  # the GSSAPI binding of Kerberos logons (--keytab), Debian's, seen by the venv (above)
  samba-ad-dc samba-ad-provision krb5-user winbind  # the AD domain of the Kerberos tests (a DC, a member)
  faketime  # a file server whose clock is off (Kerberos clock skew), without touching this machine's
  gcc libc6-dev  # a shim that mends libfaketime's monotonic sleeps (tests/fixtures/faketime.py)
  strace  # tests/integration/test_watch_cost.py counts a watch's system calls per probe
)
packages=("${demo_packages[@]}")
if [ "${1:-}" != --demo ]; then
  packages+=("${test_packages[@]}")
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  # Other worktrees' setups on the same machine may hold dpkg's lock for a while: wait for it.
  apt-get update -qq -o DPkg::Lock::Timeout=600
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 \
    "${missing[@]}" >/dev/null
fi
# Debian's packages start daemons we don't want on a test machine; ours are started by the tests.
for unit in smbd nmbd samba-ad-dc winbind nfs-ganesha rpcbind rpcbind.socket logd prometheus prometheus-node-exporter; do
  systemctl disable --now "$unit" >/dev/null 2>&1 || true
done

# A .venv from an earlier setup (another interpreter, no system site packages) is made anew.
if ! grep -qx 'include-system-site-packages = true' .venv/pyvenv.cfg 2>/dev/null \
  || ! grep -qx 'home = /usr/bin' .venv/pyvenv.cfg; then
  rm -rf .venv
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
stamp=.venv/.fswatch-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip wheel >/dev/null
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
echo "setup: ready ($(.venv/bin/python --version), $(smbd --version))"
