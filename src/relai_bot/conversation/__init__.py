"""Channel-neutral dialogue: flows as data, an engine that returns replies, actions in Python."""
