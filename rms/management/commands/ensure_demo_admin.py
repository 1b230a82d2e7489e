"""Create the demo's admin login if it is missing, and say how to log in."""

import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Ensure a superuser for the demo exists (never in production) and print the login."

    def handle(self, *args, **options) -> None:
        if settings.PRODUCTION:
            raise CommandError(
                "Refusing to create a demo admin with a known password when RMS_ENV=production; "
                "use 'manage.py createsuperuser'."
            )
        username = os.environ.get("RMS_DEMO_ADMIN_USER", "admin")
        password = os.environ.get("RMS_DEMO_ADMIN_PASSWORD", "admin")
        user_model = get_user_model()
        if user_model.objects.filter(username=username).exists():
            message = f"Admin user '{username}' already exists (password unchanged)."
        else:
            user_model.objects.create_superuser(username, f"{username}@localhost", password)
            message = f"Created admin user '{username}' with password '{password}'."
        self.stdout.write(message)
        self.stdout.write(
            self.style.SUCCESS(
                f"Log in at http://127.0.0.1:8000/admin/ as {username} (password: {password} "
                "unless you changed it)."
            )
        )
