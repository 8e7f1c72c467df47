"""Notifications are sent by the public task name, never by importing the task: the
producer (alerts) does not import the consumer (`exports.tasks`), so no import runs back
up. The queue is the task's route (CELERY_TASK_ROUTES: the notifications queue)."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from celery import current_app

SEND_NOTIFICATION = "exports.tasks.send_notification"


def send_notifications(notification_ids: Iterable[UUID | str]) -> None:
    """Send each Notification by its id (as `send_notification` messages, the id as text)."""
    for notification_id in notification_ids:
        current_app.send_task(SEND_NOTIFICATION, args=[str(notification_id)])
