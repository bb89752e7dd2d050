"""Applying a plan: the applier, its locks, the interruption guard and the apply record."""
