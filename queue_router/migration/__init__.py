"""Migration and rollback between the legacy queues (Bull, RQ) and Temporal.

``Migrator`` moves jobs, ``rollback`` returns them, both through the ledger that the
one Lua script ``move.lua`` keeps atomically with every move.
"""

from queue_router.migration.bull import BullQueue
from queue_router.migration.migrate import JobOutcome, MigrationPlan, MigrationReport, Migrator
from queue_router.migration.queues import MIGRATABLE_STATES, LegacyJob, LegacyQueue
from queue_router.migration.rollback import rollback
from queue_router.migration.rq import RQQueue

__all__ = [
    "MIGRATABLE_STATES",
    "BullQueue",
    "JobOutcome",
    "LegacyJob",
    "LegacyQueue",
    "MigrationPlan",
    "MigrationReport",
    "Migrator",
    "RQQueue",
    "rollback",
]
