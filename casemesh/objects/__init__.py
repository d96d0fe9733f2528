"""Object-store port and adapters (S3 via minio, local filesystem)."""
