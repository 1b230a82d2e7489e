"""Schedule the webhook retry sweep every minute with django-celery-beat (under Periodic tasks)."""

from django.db import migrations

NAME = "Webhook retries"
TASK = "webhooks.tasks.webhooks_retry_due_task"


def schedule_sweep(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    every_minute = interval_model.objects.filter(every=1, period="minutes").first()
    if every_minute is None:
        every_minute = interval_model.objects.create(every=1, period="minutes")
    apps.get_model("django_celery_beat", "PeriodicTask").objects.get_or_create(
        name=NAME, defaults={"task": TASK, "interval": every_minute}
    )


def unschedule_sweep(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule_sweep, unschedule_sweep)]
