"""Shared mechanics of spot-ingest: configuration, Kafka, storage, catalog, decoding, logging."""
