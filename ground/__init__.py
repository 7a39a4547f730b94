"""The ground floor every part may stand on: the exception tree, TOML reading, logging set-up, the
clock protocol and the base of config sections. It imports nothing else of the project, and nothing
heavy (the edge agent on a gateway imports it)."""
