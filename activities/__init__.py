"""Temporal activities (and their legacy-queue adapters) that perform the jobs' work."""
