"""Where a training run executes: locally (a detached subprocess) or on Hugging Face Jobs."""
