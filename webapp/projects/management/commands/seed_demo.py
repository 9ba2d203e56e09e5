import os
import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

from webapp.corpus.demo import demo_project_seed


class Command(BaseCommand):
    help = "Create the admin user and the demo project (once), and print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--data", default=os.environ.get("DEMO_DATA", ""),
                            help="A folder of ALTO/PAGE XML files with their images (default: synthetic pages).")
        parser.add_argument("--username", default=os.environ.get("INKLOOP_ADMIN_USER", "admin"))

    def handle(self, *args, data: str, username: str, **options):
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        password = os.environ.get("INKLOOP_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        if user is None:
            user = user_model.objects.create_superuser(username=username, email=f"{username}@localhost",
                                                       password=password)
        if not user.check_password(password):
            password = None  # changed since; never print a password that no longer works
        data_dir = Path(data).expanduser().resolve() if data else None
        project = demo_project_seed(owner=user, data_dir=data_dir)
        token, _ = Token.objects.get_or_create(user=user)
        # Only the login: whoever serves the app says where and when it is ready (`make run`: webapp/devstack.py).
        self.stdout.write(self.style.SUCCESS(
            f"  user:         {username}" + (f"\n  password:     {password}" if password else
                                             "  (password unchanged; reset with `manage.py changepassword`)") +
            f"\n  API token:    {token.key}   (header: Authorization: Token {token.key})\n"
            f"  demo project: id {project.pk}, {project.pages.count()} pages\n"))
