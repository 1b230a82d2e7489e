"""Schedule billing's daily jobs with django-celery-beat (editable under Periodic tasks)."""

from django.db import migrations

# (name, task, hour, minute). The top-up runs first so that the run's day has its schedules;
# both run after midnight, so "today" has begun, and before finance staff review drafts.
DAILY_TASKS = [
    ("Daily billing schedule top-up", "billing.tasks.schedules_top_up_task", "1", "30"),
    ("Daily bill run", "billing.tasks.run_billing_task", "2", "0"),
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
        ("billing", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_daily_tasks, unschedule_daily_tasks)]
