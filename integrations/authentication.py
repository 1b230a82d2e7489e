"""Token authentication against ``ApiToken``, and the permission backend that applies its scopes.

DRF's own token is one unscoped key per user, stored in clear and never expiring; an integration
needs several named keys per user, each limited to what it does, revocable on its own.
"""

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from integrations.models import ApiToken, key_digest

# Writing last_used_at on every request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=5)


class ApiTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>`` (or ``Bearer <key>``) for a usable ``ApiToken``."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() not in {"token", "bearer"}:
            return None
        key = key.strip()
        if not key or " " in key:
            raise AuthenticationFailed("Invalid token header: send 'Token <key>'.")
        return self.authenticate_credentials(key)

    def authenticate_credentials(self, key):
        token = (
            ApiToken.objects.usable().select_related("user").filter(digest=key_digest(key)).first()
        )
        if token is None:
            raise AuthenticationFailed("Invalid, expired or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        user = token.user
        scopes = token.scopes.values_list("content_type__app_label", "codename")
        user.token_scopes = frozenset(f"{app}.{codename}" for app, codename in scopes) or None
        return user, token


class TokenScopeBackend:
    """Refuse, for a request made with a scoped token, every permission outside its scopes.

    Listed first in ``AUTHENTICATION_BACKENDS``: raising ``PermissionDenied`` stops Django from
    asking the backends that would grant the user's own permissions. Users of scoped tokens are
    never superusers (the token form refuses it), whose ``has_perm`` asks no backend at all.
    """

    def authenticate(self, request, **credentials):
        return None

    def has_perm(self, user_obj, perm, obj=None) -> bool:
        scopes = getattr(user_obj, "token_scopes", None)
        if scopes is not None and perm not in scopes:
            raise PermissionDenied
        return False
