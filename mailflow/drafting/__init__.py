"""Notices on their way out: drafts, the chair's approval, feedback, and the manuals' deadlines."""
