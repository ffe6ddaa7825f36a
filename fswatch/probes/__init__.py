"""The probes, one per protocol. Importing the package defers what their libraries import and
never use (fswatch.probes.deferred), before any of them is imported."""

from fswatch.probes import deferred

deferred.install()
