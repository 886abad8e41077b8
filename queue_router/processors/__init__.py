"""Processors: the job code, written once, run by Temporal and the legacy queue alike.

Write a processor once::

    from queue_router import JobContext, processor

    @processor("document-generation")
    async def generate(job: JobContext) -> dict:
        pdf = await render(job.data)
        url = await job.effect("upload", f"upload {job.job_id}.pdf", lambda: upload(pdf))
        return {"url": url}

``queue-router worker`` runs it as a Temporal activity (``activities.temporal``);
``queue-router rq-worker`` runs it as an RQ job (``activities.legacy``). ``job.effect``
performs a side effect once per job across both (``effects``: claims in Redis).
"""

from queue_router.processors.context import JobContext, Runtime
from queue_router.processors.effects import EffectClaims, effect_key
from queue_router.processors.registry import (
    Processor,
    Registry,
    default_registry,
    import_processor_modules,
    processor,
    run_processor,
)

__all__ = [
    "EffectClaims",
    "JobContext",
    "Processor",
    "Registry",
    "Runtime",
    "default_registry",
    "effect_key",
    "import_processor_modules",
    "processor",
    "run_processor",
]
