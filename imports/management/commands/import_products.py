"""``manage.py import_products FILE``: ``import_csv products FILE``."""

from imports.management.commands.import_csv import Command as ImportCsvCommand


class Command(ImportCsvCommand):
    layout = "products"
