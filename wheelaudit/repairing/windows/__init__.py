"""Repairing Windows wheels: import-table renaming, the DLL search-path patch, the repairer."""
