"""The issuer server: one HTTP service and database shared by every station and terminal of an issuer.

A package beside the host library: it imports ``cardsmith`` (the backup file format, the typed errors), and
``cardsmith`` never imports it (the CLI's ``server`` command loads it only when run). ``app.create_app``
builds the service; docs/server.md describes it.
"""
