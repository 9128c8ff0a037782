"""Run the scheduled tasks that are due, in this process: beat for the embedded default.

Without a broker there is no beat and no worker, so nothing would run the schedules in
the database (django-celery-beat): the mail sweep, the sweep that delivers documents
left without a PDF or email, the billing run on the billing day, the retention sweep,
the ledger's checkpoint. ``make run`` starts this command next to the development
server (``--every 60``); on a small installation without a broker, run it from cron
every minute. With a broker configured, celery beat does this and the command refuses.

Each due schedule is claimed with a conditional update of its last run, so two of these
running at once run a task once.
"""

from __future__ import annotations

import logging
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import F
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from portal.celery import app

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the scheduled tasks that are due, in-process (for the embedded default, without a broker)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every", type=int, metavar="SECONDS", help="Keep going: look again every SECONDS (for make run)."
        )

    def handle(self, *args, every: int | None = None, **options) -> None:
        if not app.conf.task_always_eager:
            raise CommandError("A broker is configured (CELERY_BROKER_URL): celery beat runs the schedules.")
        if every is not None and every < 1:
            raise CommandError("--every takes a number of seconds, at least 1.")
        app.loader.import_default_modules()  # every app's tasks module
        while True:
            for name, outcome in run_due():
                self.stdout.write(f"{name}: {outcome}")
            if every is None:
                return
            time.sleep(every)


def run_due() -> list[tuple[str, str]]:
    """Run each enabled schedule that is due; (name, outcome) for each one run."""
    ran = []
    for model in PeriodicTask.objects.filter(enabled=True).order_by("pk"):
        last_run_at = model.last_run_at  # ModelEntry fills in a never-run schedule's, as beat does
        entry = ModelEntry(model, app=app)
        if not entry.is_due().is_due:
            continue
        unchanged = {"last_run_at__isnull": True} if last_run_at is None else {"last_run_at": last_run_at}
        claimed = PeriodicTask.objects.filter(pk=model.pk, **unchanged).update(
            last_run_at=timezone.now(), total_run_count=F("total_run_count") + 1
        )
        if not claimed:
            continue  # run by another process meanwhile
        task = app.tasks.get(model.task)
        if task is None:
            logger.error("Schedule %r names the task %r, which no app defines", model.name, model.task)
            ran.append((model.name, f"no such task {model.task!r}"))
            continue
        try:
            result = task.apply(args=entry.args, kwargs=entry.kwargs)
            result.get(propagate=True)
        except Exception as exc:  # one task's failure does not stop the others
            logger.exception("Scheduled task %s failed", model.task)
            ran.append((model.name, f"failed: {exc.__class__.__name__}: {exc}"))
            continue
        ran.append((model.name, "done"))
    return ran
