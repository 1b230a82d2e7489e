"""The reports own no data: one unmanaged model carries the permission that opens them.

A permission needs a content type, and a content type needs a model. ``Report`` has no table;
its ``view_report`` permission is what the roles grant (finance admins, billing clerks and
auditors), and registering it in the admin puts "Reports" on the admin's index.
"""

from django.db import models


class Report(models.Model):
    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "finance report"

    def __str__(self) -> str:
        return self._meta.verbose_name
