"""Tests of the inbound intakes (IMAP polling) and of the servers they talk to."""
