"""The operations the CLI and scripts share: make a plan, check it, apply it."""

from idflow.core.operations import ApplyOutcome, apply_saved_plan, check_plan_file, make_plan

__all__ = ["ApplyOutcome", "apply_saved_plan", "check_plan_file", "make_plan"]
