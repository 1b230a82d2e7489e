"""``manage.py import_customers FILE``: ``import_csv customers FILE``."""

from imports.management.commands.import_csv import Command as ImportCsvCommand


class Command(ImportCsvCommand):
    layout = "customers"
