"""Example tools, registered as ``livekitex.tools`` entry points in this project's pyproject."""
