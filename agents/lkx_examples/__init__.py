"""Tools used by lkx's example agents (the YAML files beside this package)."""
