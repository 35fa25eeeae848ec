"""Mailflow: an email-first workflow service for Code of Conduct committees.

The flow, one folder per step: inbound (receive, spool) -> parse -> thread -> case (record)
-> route -> policy (gate) -> outbound (outbox, transport). ``pipeline.py`` is the table of contents.
"""

__version__ = "0.1.0"
