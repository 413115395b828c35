"""Fair compute attribution: the host's cost split among the local root spans in flight."""
