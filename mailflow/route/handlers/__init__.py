"""One handler per kind of case mail, each a module with ``NAME``, ``applies`` and ``process``.

The router (``mailflow.route.router``) lists them in the order they are asked.
"""
