"""Schedule the daily top-up of evergreen billing schedules (django-celery-beat)."""

from django.db import migrations

TASK_NAME = "Daily billing schedule top-up"


def schedule_top_up(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    # 01:30, before the 02:00 bill run, outside office hours.
    at_half_past_one, _ = crontab_model.objects.get_or_create(
        minute="30", hour="1", day_of_week="*", day_of_month="*", month_of_year="*"
    )
    task_model.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "billing.tasks.schedules_top_up_task", "crontab": at_half_past_one},
    )


def unschedule_top_up(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_event_cancelled_and_total_tolerance")]

    operations = [migrations.RunPython(schedule_top_up, unschedule_top_up)]
