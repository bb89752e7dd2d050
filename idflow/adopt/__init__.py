"""Adopting a server: ``idflow import`` writes project files for what the server holds, ``idflow export``
backs every definition up, and restore and revert are plans (``idflow plan --from DIR``, ``--revert REPORT``).

One writer per kind (``idflow.adopt.kinds.KINDS``): it says how to list the server's objects of its kind,
how to name them, and turns one into the text of one project file. Event handlers and schedules add one
entry each.
"""
