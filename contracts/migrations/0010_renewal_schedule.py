"""Schedule the daily renewals and renewal notices with django-celery-beat (editable under
Periodic tasks)."""

from django.db import migrations

# (name, task, hour, minute). Renewals run before billing's 01:30 top-up and 02:00 bill run, so a
# term renewed today bills its first period today; notices go out in the morning.
DAILY_TASKS = [
    ("Daily contract renewals", "contracts.tasks.renewals_run_task", "1", "0"),
    ("Daily renewal notices", "contracts.tasks.renewal_notices_task", "7", "0"),
]


def schedule_daily_tasks(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, hour, minute in DAILY_TASKS:
        crontab, _ = crontab_model.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*"
        )
        task_model.objects.get_or_create(name=name, defaults={"task": task, "crontab": crontab})


def unschedule_daily_tasks(apps, schema_editor):
    names = [name for name, *_ in DAILY_TASKS]
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=names).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("contracts", "0009_renewals"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_daily_tasks, unschedule_daily_tasks)]
