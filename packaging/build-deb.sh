#!/bin/sh
# Builds dist/fswatch_VERSION-1_all.deb from this tree (make deb) and prints its path.
#
# Debian's own tooling does the work (dpkg-buildpackage, debhelper, dh-python with pybuild's
# pyproject plugin): packaging/debian/ becomes debian/ in a copy of the files the package
# needs. smbprotocol and pyspnego are not in Debian 12, so the package embeds them: their
# wheels, at the versions the project's venv runs and tests, go into vendor/ beside it.
# Needs: apt-get install debhelper dh-python pybuild-plugin-pyproject python3-all
# python3-setuptools python3-wheel (scripts/setup.sh), and the venv for pip download.
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)

python=${PYTHON:-$repo/.venv/bin/python}
command -v dpkg-buildpackage >/dev/null 2>&1 || { echo "build-deb: dpkg-buildpackage not found: apt-get install dpkg-dev debhelper" >&2; exit 1; }
[ -x "$python" ] || { echo "build-deb: $python not found: run scripts/setup.sh" >&2; exit 1; }

version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' fswatch/__init__.py)
deb_version=$(sed -n '1s/^fswatch (\([^)-]*\)-[^)]*).*/\1/p' packaging/debian/changelog)
if [ "$version" != "$deb_version" ]; then
    echo "build-deb: fswatch/__init__.py says $version, packaging/debian/changelog says $deb_version" >&2
    exit 1
fi
release=$(sed -n '1s/^fswatch ([^)]*-\([^)]*\)).*/\1/p' packaging/debian/changelog)

top=$(mktemp -d "${TMPDIR:-/var/tmp}/fswatch-deb.XXXXXX")
trap 'rm -rf "$top"' EXIT INT TERM
src="$top/fswatch-$version"
mkdir -p "$src" "$repo/dist"

tar -C "$repo" -c --exclude=__pycache__ --exclude='*.pyc' \
    README.md pyproject.toml fswatch units packaging/fswatch.catalog packaging/clusterpro packaging/man packaging/ocf packaging/ctdb \
    | tar -C "$src" -x
cp -r packaging/debian "$src/debian"
# One source for both packages: dh_installsysusers and dh_installtmpfiles take them from here.
cp packaging/fswatch.sysusers "$src/debian/fswatch.sysusers"
cp packaging/fswatch.tmpfiles "$src/debian/fswatch.tmpfiles"
pin() { "$python" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"; }
"$python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary :all: -d "$src/vendor" \
    "smbprotocol==$(pin smbprotocol)" "pyspnego==$(pin pyspnego)" >&2

# The system python3 builds it (the package is for it), whatever python3 PATH finds first.
(cd "$src" && PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg-buildpackage -b -us -uc --no-sign) >"$top/build.log" 2>&1 || {
    tail -n 40 "$top/build.log" >&2
    echo "build-deb: dpkg-buildpackage failed" >&2
    exit 1
}
deb="fswatch_${version}-${release}_all.deb"
mv "$top/$deb" "$repo/dist/$deb"
echo "$repo/dist/$deb"
