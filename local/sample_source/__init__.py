"""The sample eTenders-compatible source: the OCDS releases API and the portal's tender search on 127.0.0.1, built
from the real rows in data/ocds/, with faults on request."""
