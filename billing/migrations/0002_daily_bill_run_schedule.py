"""Schedule the daily bill run with django-celery-beat (editable under Periodic tasks)."""

from django.db import migrations

TASK_NAME = "Daily bill run"


def schedule_daily_bill_run(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    # 02:00 in the installation's time zone: after midnight, so "today" has begun everywhere
    # the invoices are dated, and before finance staff start reviewing drafts.
    at_two, _ = crontab_model.objects.get_or_create(
        minute="0", hour="2", day_of_week="*", day_of_month="*", month_of_year="*"
    )
    task_model.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "billing.tasks.run_billing_task", "crontab": at_two},
    )


def unschedule_daily_bill_run(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_daily_bill_run, unschedule_daily_bill_run)]
