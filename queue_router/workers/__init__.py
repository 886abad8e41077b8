"""The long-running workers, one module per command: ``temporal`` (``queue-router
worker``: the catalogue's workflows, the processors' activities, the shadow relay),
``rq`` (``rq-worker``) and ``lists`` (``list-worker``) on the legacy paths.

Each runs the same registered processors and shares their side-effect claims in Redis.
"""
