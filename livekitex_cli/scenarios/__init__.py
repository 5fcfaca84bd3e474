"""``lkx test``: conversation tests for agents, written as YAML scenario files (``*.test.yaml``)
and run in-process against the agent's real session, in text or synthesised speech."""
