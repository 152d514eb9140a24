"""End-to-end drivers: the whole pipeline through the CLI, in this process (tests/test_pipeline_*.py)."""
