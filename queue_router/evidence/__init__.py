"""Deciding a rollout by evidence: the figures workers and routers record in Redis
(``ledger``), shadow comparison (``compare``), the rollout controller (``rollout``) and
the dual-write repair (``reconcile``).
"""
