"""The Temporal activity that runs processors, the RQ job function, and reference processors.

``activities.temporal``: the one activity type every workflow runs. ``activities.legacy``:
the function RQ jobs call. ``activities.email`` / ``activities.webhook``: reference
processors (SMTP, signed webhooks). Processors themselves are written against
``queue_router.processors`` (``JobContext``, ``@processor``).
"""

from activities.temporal import ProcessorActivities

__all__ = ["ProcessorActivities"]
