"""Run logs, evaluation, and the diagnostics the user's log did by hand."""
