"""Encryption at rest: personal data and words sealed in the database with AES-256-GCM.

``keyring``: the keys and the format of a sealed value. ``sealed``: the column types that seal and
open. ``check``: the start-up check that the configured keys are the database's. ``rotate``:
re-sealing every value with the first key (``mailflow keys rotate``), plaintext rows included.
"""
