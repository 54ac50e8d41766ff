"""Real services for the tests: PostgreSQL servers, an S3 endpoint and sample datasets.

Each service is found in this order: an existing server named by an environment variable,
a container when a Docker engine answers, or a throwaway process built from local binaries.
"""
