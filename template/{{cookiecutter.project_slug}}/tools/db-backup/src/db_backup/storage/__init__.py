"""Where backups live besides the local directory (S3-compatible object storage)."""
