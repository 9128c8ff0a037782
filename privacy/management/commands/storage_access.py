"""The enforcement point on the command line, for the provider's tooling on a host that
runs the portal's code (docs/storage-access.md).

    manage.py storage_access check --service 12 --staff ann@provider.example
    manage.py storage_access start --grant 7 --staff ann@provider.example
    manage.py storage_access end --session 3 --done "Restored /var/www from last night's backup"

``check`` prints ``allowed grant=<id> until=<time>`` and exits 0, or ``denied: <reason>``
and exits 1; each answer is recorded, as from the HTTP endpoint.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Service
from privacy.storage import services
from privacy.storage.models import StorageAccessSession, StorageGrant


def _service(value: str) -> Service:
    """A service by number, or by name when only one service has it."""
    if value.isdigit():
        service = Service.objects.filter(pk=int(value)).first()
        if service is None:
            raise CommandError(f"There is no service number {value}.")
        return service
    matches = list(Service.objects.filter(name=value)[:2])
    if not matches:
        raise CommandError(f"There is no service named {value!r}.")
    if len(matches) > 1:
        raise CommandError(f"More than one service is named {value!r}: give its number.")
    return matches[0]


class Command(BaseCommand):
    help = "Ask whether a member of staff may open a service's storage now, and record access sessions."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        check = sub.add_parser("check", help="Allowed or denied, with the grant's number (exit 0 or 1).")
        check.add_argument("--service", required=True, help="The service's number, or its name if unique.")
        check.add_argument("--staff", required=True, help="The member of staff's email address.")
        start = sub.add_parser("start", help="Record that a session under a grant has started.")
        start.add_argument("--grant", required=True, type=int)
        start.add_argument("--staff", required=True)
        end = sub.add_parser("end", help="Record that a session has ended, and what was done.")
        end.add_argument("--session", required=True, type=int)
        end.add_argument("--done", required=True, help="What was done, as the customer will read it.")

    def handle(self, *args, **options) -> None:
        try:
            getattr(self, f"handle_{options['action']}")(options)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc

    def handle_check(self, options: dict) -> None:
        answer = services.check_access(service=_service(options["service"]), staff_email=options["staff"])
        if answer.allowed:
            self.stdout.write(f"allowed grant={answer.grant.pk} until={answer.grant.ends_at.isoformat()}")
            return
        self.stdout.write(f"denied: {answer.reason}")
        raise SystemExit(1)

    def handle_start(self, options: dict) -> None:
        grant = StorageGrant.objects.filter(pk=options["grant"]).first()
        staff = services.find_staff(options["staff"])
        if grant is None:
            raise CommandError(f"There is no grant number {options['grant']}.")
        if staff is None:
            raise CommandError(f"{options['staff']} is not an active member of staff.")
        # The member of staff named reports their own session.
        session = services.start_session(grant, staff=staff, actor=staff)
        self.stdout.write(f"session={session.pk} grant={grant.pk}")

    def handle_end(self, options: dict) -> None:
        session = StorageAccessSession.objects.filter(pk=options["session"]).first()
        if session is None:
            raise CommandError(f"There is no session number {options['session']}.")
        session = services.end_session(session, what_was_done=options["done"], actor=session.staff)
        self.stdout.write(f"session={session.pk} ended={session.ended_at.isoformat()}")
