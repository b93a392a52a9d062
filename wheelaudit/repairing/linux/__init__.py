"""Repairing Linux wheels: the plan (pure), patchelf (verified), the repairer."""
