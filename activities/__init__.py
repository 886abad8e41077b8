"""Processors and the activities that run them under Temporal and RQ alike.

Write a processor once::

    from activities import JobContext, processor

    @processor("document-generation")
    async def generate(job: JobContext) -> dict:
        pdf = await render(job.data)
        url = await job.effect("upload", f"upload {job.job_id}.pdf", lambda: upload(pdf))
        return {"url": url}

``queue-router worker`` runs it as a Temporal activity; ``queue-router rq-worker`` runs
it as an RQ job. ``job.effect`` performs a side effect once per job across both.
"""

from activities.context import JobContext
from activities.effects import EffectClaims, effect_key
from activities.registry import Processor, Registry, default_registry, processor
from activities.temporal import ProcessorActivities

__all__ = [
    "EffectClaims",
    "JobContext",
    "Processor",
    "ProcessorActivities",
    "Registry",
    "default_registry",
    "effect_key",
    "processor",
]
