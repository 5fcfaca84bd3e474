"""Ready-to-run example agents (YAML beside this file) and the tools they use."""
