"""``manage.py import_usage FILE``: ``import_csv usage FILE``."""

from imports.management.commands.import_csv import Command as ImportCsvCommand


class Command(ImportCsvCommand):
    layout = "usage"
