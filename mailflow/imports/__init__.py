"""Importing a mailbox's history: mbox, Maildir or an IMAP folder, in as cases and diaries.

``source`` describes a message located in a source (its date, size, position) and how imports
are ordered; ``files`` reads mbox and Maildir, ``imap`` an IMAP folder; ``run`` takes the
messages in date order through the same spool and pipeline as live mail, with ``notify=False``:
recorded, threaded by the same rules, and never acknowledged or fanned out.
"""
