"""Tests of importing a mailbox's history (mbox, Maildir, IMAP)."""
