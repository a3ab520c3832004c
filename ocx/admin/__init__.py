"""The operator's commands (``ocx db``, ``ocx mappings``, ``ocx providers``): what they do,
kept apart from the argument parsing in ``ocx/cli.py``. See README.md."""
