"""What training and serving must agree on, in one torch-free place.

Both ``training/`` and the rest of ``app/`` import this package; it imports nothing else from
``app`` (import-linter checks it). See ``docs/architecture.md``, "The contract".
"""
