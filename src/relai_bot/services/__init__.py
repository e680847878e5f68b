"""Domain services: every staff or resident action is a function here, called by flows, CLI and web alike."""
