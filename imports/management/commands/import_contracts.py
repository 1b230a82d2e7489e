"""``manage.py import_contracts FILE``: ``import_csv contracts FILE``."""

from imports.management.commands.import_csv import Command as ImportCsvCommand


class Command(ImportCsvCommand):
    layout = "contracts"
