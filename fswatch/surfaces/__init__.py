"""What people and clusters run: the fswatch CLI, clp_sambamon/clp_nfsmon, the OCF agents, the catalog."""
