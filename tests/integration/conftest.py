import pytest

from local.sample_source.server import SampleSource


@pytest.fixture(scope="session")
def sample_source():
    """The default sample eTenders source (200 tenders, 220 releases over September 2025), on 127.0.0.1."""
    with SampleSource() as source:
        yield source
