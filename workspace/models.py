"""The workspace owns no data: one unmanaged model carries the permission that opens it.

A permission needs a content type, and a content type needs a model. ``Workspace`` has no table;
its ``view_workspace`` permission (dashboard, contract 360, worklists) is what the finance roles
and the auditors hold. The actions on a worklist still need the permission of what they change.
"""

from django.db import models


class Workspace(models.Model):
    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "finance workspace"

    def __str__(self) -> str:
        return self._meta.verbose_name
