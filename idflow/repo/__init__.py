"""Reading the repository: task and workflow files, templates and YAML, read safely and never run."""
