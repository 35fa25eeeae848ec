"""The one MIME reading: every part of a message, decoded once, read by everyone.

The inbound path (parse, classify, authenticate, forwarded reports) and the policy gate on the way
out read messages through this package: one typed part tree, one RFC 2047 decoder, one charset
decoder, one HTML reader, one reader per document format, one vocabulary of separators. What a
reader cannot read to the end is reported, never skipped (``mailflow.mime.reading.Unread``).
"""
