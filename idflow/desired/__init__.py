"""Desired state: what the local files say the server should hold."""
