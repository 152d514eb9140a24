"""tunesmith's Textual front end. Importing this package imports nothing else (no textual):
the App lives in tui.app, reusable widgets in tui.widgets, messages in tui.messages."""
