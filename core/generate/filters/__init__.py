"""Quality filters for generated examples. Each records pass/fail with a reason code and a score."""
