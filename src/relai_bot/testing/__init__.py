"""Tools to drive the bot as a resident would, in tests and benchmarks."""
