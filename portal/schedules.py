"""Schedules kept in the database (django-celery-beat), made by data migrations.

One helper so every scheduling migration does the same thing: create the schedule and
the periodic task once, by name. Running again, or after staff changed the time in the
admin, changes nothing.
"""

from __future__ import annotations


def ensure_schedule(
    apps,
    *,
    name: str,
    task: str,
    description: str,
    daily_at: tuple[int, int] | None = None,
    every: tuple[int, str] | None = None,
    time_zone: str = "Europe/London",
) -> None:
    """A daily task at ``daily_at`` (hour, minute), or one repeating ``every`` (n, "minutes"/"hours")."""
    if (daily_at is None) == (every is None):
        raise ValueError("Give exactly one of daily_at or every.")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if daily_at is not None:
        hour, minute = daily_at
        crontab, _ = apps.get_model("django_celery_beat", "CrontabSchedule").objects.get_or_create(
            minute=str(minute),
            hour=str(hour),
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=time_zone,
        )
        when = {"crontab": crontab}
    else:
        count, period = every
        interval, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
            every=count, period=period
        )
        when = {"interval": interval}
    PeriodicTask.objects.get_or_create(
        name=name, defaults={"task": task, "enabled": True, "description": description, **when}
    )


def remove_schedule(apps, *, name: str) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()
