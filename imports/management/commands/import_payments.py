"""``manage.py import_payments FILE``: ``import_csv payments FILE``."""

from imports.management.commands.import_csv import Command as ImportCsvCommand


class Command(ImportCsvCommand):
    layout = "payments"
