"""API permissions: reading a model needs its view permission, not only a login."""

from rest_framework.permissions import DjangoModelPermissions

VIEW = ["%(app_label)s.view_%(model_name)s"]


class ModelPermissions(DjangoModelPermissions):
    """Require ``<app>.view_<model>`` to read and DRF's add/change/delete permissions to write.

    DRF's ``DjangoModelPermissions`` lets any authenticated user read, which would show every
    contract's revenue to anyone with a login; finance roles are granted view permissions
    model by model instead. A view whose rows are computed rather than stored (a contract's
    position, read off the journal) names the model whose view permission guards it in
    ``permission_model``.
    """

    perms_map = {**DjangoModelPermissions.perms_map, "GET": VIEW, "HEAD": VIEW}

    def has_permission(self, request, view) -> bool:
        """Check the permissions of ``view.permission_model``, else of the view's queryset."""
        model = getattr(view, "permission_model", None)
        if model is None:
            return super().has_permission(request, view)
        if not request.user or not request.user.is_authenticated:
            return False
        return request.user.has_perms(self.get_required_permissions(request.method, model))
