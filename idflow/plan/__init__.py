"""The plan: its data, the planner that builds it, its file, its integrity check and its views."""
