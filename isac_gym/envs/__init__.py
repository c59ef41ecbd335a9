"""Gymnasium adapters over the batch-first physics."""
