"""``manage.py import_milestones FILE``: ``import_csv milestones FILE``."""

from imports.management.commands.import_csv import Command as ImportCsvCommand


class Command(ImportCsvCommand):
    layout = "milestones"
