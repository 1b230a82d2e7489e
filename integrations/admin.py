"""Admin for API tokens: make one (its key shown once), narrow it, revoke it."""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from integrations.models import ApiToken


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["name", "user", "scopes", "expires_at"]

    def clean(self):
        cleaned = super().clean()
        user, scopes = cleaned.get("user"), cleaned.get("scopes")
        if user is not None and user.is_superuser and scopes:
            # A superuser's permission checks ask no backend, so scopes could not hold.
            self.add_error(
                "scopes",
                f"{user} is a superuser, whose tokens cannot be scoped: give the token to a "
                "user with a role instead.",
            )
        expires_at = cleaned.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            self.add_error("expires_at", "The expiry must be in the future.")
        return cleaned


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "expires_at", "state"]
    list_filter = [StateFilter]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    filter_horizontal = ["scopes"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.display(description="State")
    def state(self, token: ApiToken) -> str:
        if token.revoked:
            return "revoked"
        if token.expires_at is not None and token.expires_at <= timezone.now():
            return "expired"
        return "active"

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.revoked:
            return [*self.readonly_fields, "name", "user", "scopes", "expires_at"]
        if obj is not None:
            # A token stays with the user it was made for; make a new one for someone else.
            return [*self.readonly_fields, "user"]
        return self.readonly_fields

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "scopes":
            # A permission's name includes its content type's: one query per choice otherwise
            # (as Django's own GroupAdmin does).
            kwargs["queryset"] = db_field.remote_field.model.objects.select_related("content_type")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj: ApiToken, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key = obj.key_issue()
        obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)
        messages.warning(
            request,
            f"The key of {obj.name!r} is {key} — copy it now: it is not stored and will not be "
            "shown again.",
        )

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s); they stop working at once.")
