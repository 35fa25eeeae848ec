"""The records the manuals ask a committee to keep besides each case's diary.

``log`` (the Master Incident Log), ``assessment`` (jurisdiction, impact, risk), ``bans`` (the ban
register), ``patterns`` (earlier cases, links, merges), ``evidence`` (verify, export, heads),
``retention`` and ``transparency`` (the yearly report); ``commands`` are their commands by mail,
``schedule`` their periodic work; ``facts`` reads what all of them are built from.
"""
