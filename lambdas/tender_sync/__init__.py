"""Tender sync: keeps a PostgreSQL table of public tenders in step with an OCDS publisher."""
