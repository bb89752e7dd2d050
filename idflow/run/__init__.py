"""Running things: the workers of local tasks and the stages that start workflows."""
