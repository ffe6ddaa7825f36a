# Included by the Makefile (`include packaging/packages.mk`, after `setup` and PY are defined).
#   make rpm      builds dist/fswatch-VERSION-RELEASE.noarch.rpm (packaging/build-rpm.sh)
#   make rpmlint  builds it, then lints it and the spec with the documented filters
#   make deb      builds dist/fswatch_VERSION-RELEASE_all.deb (packaging/build-deb.sh)
#   make man      regenerates the ALERTS sections of the man pages from fswatch/core/alerts.py
.PHONY: rpm rpmlint deb man

rpm: setup
	./packaging/build-rpm.sh

rpmlint: setup
	rpmlint -c packaging/rpmlint.toml "$$(./packaging/build-rpm.sh)" packaging/fswatch.spec

deb: setup
	./packaging/build-deb.sh

man: setup
	$(PY) packaging/gen-man-alerts.py
