"""Repairing macOS wheels: load-command editing, fat files, ad-hoc signing, the repairer."""
