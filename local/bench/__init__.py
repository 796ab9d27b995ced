"""Measurements: how the sync scales (`make bench`), what it costs on AWS (`make cost`), and their instruments."""
