"""Operator views and tools: stats, health, stuck jobs, validation, backup and restore."""
