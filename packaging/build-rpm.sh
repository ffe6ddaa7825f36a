#!/bin/sh
# Builds dist/fswatch-VERSION-RELEASE.noarch.rpm from this tree (make rpm) and prints its path.
#
# Source0 is the tree (the files the spec installs, plus the package source); Source1 is
# the wheel, built from Source0 by the project's venv (pyproject.toml needs setuptools
# >= 61 and wheel) so no stale build/ directory of the tree can slip into it.
# Needs: rpmbuild (Debian: apt-get install rpm), the venv (scripts/setup.sh).
# PYTHON (default .venv/bin/python) builds the wheel and runs pip in %install.
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)

python=${PYTHON:-$repo/.venv/bin/python}
command -v rpmbuild >/dev/null 2>&1 || { echo "build-rpm: rpmbuild not found: apt-get install rpm" >&2; exit 1; }
[ -x "$python" ] || { echo "build-rpm: $python not found: run scripts/setup.sh" >&2; exit 1; }

version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' fswatch/__init__.py)
spec_version=$(sed -n 's/^Version: *//p' packaging/fswatch.spec)
if [ "$version" != "$spec_version" ]; then
    echo "build-rpm: fswatch/__init__.py says $version, packaging/fswatch.spec says $spec_version" >&2
    exit 1
fi

top=$(mktemp -d "${TMPDIR:-/var/tmp}/fswatch-rpm.XXXXXX")
trap 'rm -rf "$top"' EXIT INT TERM
mkdir -p "$top/SOURCES" "$top/wheel-src" "$repo/dist"

# Source0: what the spec needs from the tree, without caches or build leftovers.
tar -C "$repo" -c -z -f "$top/SOURCES/fswatch-$version.tar.gz" \
    --exclude=__pycache__ --exclude='*.pyc' --sort=name --owner=0 --group=0 --numeric-owner \
    --transform "s|^|fswatch-$version/|" \
    README.md pyproject.toml fswatch units \
    packaging/fswatch.spec packaging/fswatch.catalog packaging/fswatch.sysusers packaging/fswatch.tmpfiles packaging/clusterpro packaging/man packaging/ocf \
    packaging/ctdb
# Source1: the wheel, built from a copy of Source0.
tar -C "$top/wheel-src" -x -z -f "$top/SOURCES/fswatch-$version.tar.gz"
"$python" -m pip wheel --quiet --no-deps --no-build-isolation --no-index --disable-pip-version-check \
    -w "$top/SOURCES" "$top/wheel-src/fswatch-$version" >&2

rpmbuild -bb --quiet \
    --define "_topdir $top" \
    --define "_sourcedir $top/SOURCES" \
    --define "_rpmdir $repo/dist" \
    --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
    --define "fswatch_pip $python -m pip" \
    packaging/fswatch.spec >&2

release=$(rpm -q --qf '%{RELEASE}\n' --specfile packaging/fswatch.spec | head -n 1)
rpm_file="$repo/dist/fswatch-$version-$release.noarch.rpm"
[ -f "$rpm_file" ] || { echo "build-rpm: rpmbuild made no $rpm_file" >&2; exit 1; }
echo "$rpm_file"
