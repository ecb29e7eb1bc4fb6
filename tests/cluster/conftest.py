"""The cluster's shared servers, one of each per test session (each test takes a fresh database
or bucket on them)."""

import uuid

import pytest

from tests.cluster.servers import S3_CREDENTIALS, make_bucket, postgres_server, redis_server, s3_server


@pytest.fixture(scope="session")
def postgres():
    with postgres_server() as server:
        yield server


@pytest.fixture
def database_url(postgres, request) -> str:
    return postgres.fresh_database(f"t_{uuid.uuid4().hex[:10]}")


@pytest.fixture(scope="session")
def redis_url():
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def s3_endpoint():
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_home(s3_endpoint, monkeypatch) -> str:
    """A fresh bucket; this process's settings point at it (AWS_ENDPOINT_URL and credentials)."""
    bucket = f"stock-{uuid.uuid4().hex[:10]}"
    for key, value in {**S3_CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(key, value)
    make_bucket(s3_endpoint, bucket)
    return f"s3://{bucket}/home"
