"""Blocking code (Django views, Flask handlers, scripts) uses the sync facade.

One router per process: it keeps its own event loop thread and connections.
"""

from __future__ import annotations

from queue_router import SyncQueueRouter

router = SyncQueueRouter.from_env()


def signup_view(user_id: str, email: str) -> str:
    receipt = router.enqueue_sync(
        "email-send-welcome", {"to": email}, key=user_id, job_id=f"welcome-{user_id}"
    )
    return f"queued on {', '.join(receipt.backends)}"


if __name__ == "__main__":
    try:
        print(signup_view("user-42", "user42@example.com"))
    finally:
        router.close()
