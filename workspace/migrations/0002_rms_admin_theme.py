"""Make RMS's theme (``workspace.theme``) the admin's active theme."""

from django.db import migrations

from workspace.theme import RMS_THEME, activate_rms_theme


def use_rms_theme(apps, schema_editor):
    activate_rms_theme(apps.get_model("admin_interface", "Theme"))


def use_default_theme(apps, schema_editor):
    Theme = apps.get_model("admin_interface", "Theme")
    Theme.objects.filter(name=RMS_THEME["name"]).delete()
    Theme.objects.filter(name="Django").update(active=True)


class Migration(migrations.Migration):
    dependencies = [
        ("workspace", "0001_initial"),
        ("admin_interface", "0032_alter_theme_defaults"),
    ]

    operations = [migrations.RunPython(use_rms_theme, use_default_theme)]
