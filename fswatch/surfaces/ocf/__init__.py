"""Pacemaker's OCF resource agents ocf:fswatch:KIND: the OCF library (agent) and fswatch's
agents declared with it (watches). packaging/ocf/KIND runs main(KIND)."""

from fswatch.surfaces.ocf.watches import main

__all__ = ["main"]
