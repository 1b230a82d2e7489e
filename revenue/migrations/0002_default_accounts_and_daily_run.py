"""Default ledger accounts (codes editable in the admin) and the daily revenue run schedule."""

from django.db import migrations

ACCOUNTS = [
    ("receivable", "1200", "Accounts receivable"),
    ("contract", "1250", "Contract balance (asset / liability)"),
    ("tax", "2200", "Sales tax payable"),
    ("revenue", "4000", "Revenue"),
]
# After the 02:00 bill run, so that the day's billings are in the ledger the run nets against.
DAILY_RUN = ("Daily revenue recognition", "revenue.tasks.revenue_recognize_task", "3", "0")


def create_defaults(apps, schema_editor):
    account_model = apps.get_model("revenue", "LedgerAccount")
    for role, code, name in ACCOUNTS:
        account_model.objects.get_or_create(role=role, defaults={"code": code, "name": name})
    name, task, hour, minute = DAILY_RUN
    crontab, _ = apps.get_model("django_celery_beat", "CrontabSchedule").objects.get_or_create(
        minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*"
    )
    apps.get_model("django_celery_beat", "PeriodicTask").objects.get_or_create(
        name=name, defaults={"task": task, "crontab": crontab}
    )


def remove_defaults(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=DAILY_RUN[0]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("revenue", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
