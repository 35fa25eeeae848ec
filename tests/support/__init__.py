"""Test support: locating the shared corpus, starting real servers, building fixtures."""
