"""API tokens that can be scoped and revoked, and the responses kept for idempotent retries."""

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import models
from django.utils import timezone

KEY_PREFIX = "rms_"
PREFIX_LENGTH = len(KEY_PREFIX) + 8


def key_digest(key: str) -> str:
    """Return the SHA-256 of a token key: only digests are kept, so a leaked table opens nothing."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def usable(self):
        """Tokens neither revoked nor expired, whose user may still log in."""
        return self.filter(revoked_at__isnull=True, user__is_active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now())
        )


class ApiToken(models.Model):
    """A key an integration sends as ``Authorization: Token <key>``, acting as ``user``.

    The key is shown once, when the token is made, and only its digest is kept. ``scopes``
    narrows what the token may do to those permissions (on top of the user's own); a token
    with no scopes can do what its user can.
    """

    name = models.CharField(max_length=100, help_text="Who uses it, e.g. 'PSA milestones'.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    prefix = models.CharField(
        max_length=PREFIX_LENGTH, editable=False, help_text="Start of the key, to recognize it."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.ManyToManyField(
        Permission,
        blank=True,
        help_text="Leave empty for everything the user may do; otherwise only these.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def key_issue(self) -> str:
        """Give the token a new random key and return it; the caller shows it once."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        self.prefix = key[:PREFIX_LENGTH]
        self.digest = key_digest(key)
        return key

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class IdempotencyKey(models.Model):
    """The response a create returned, kept so that a retry with the same key gets it again.

    A row exists from the moment a request with the key starts; ``status_code`` stays null
    until it has finished, so a concurrent retry learns the first is still running.
    """

    owner = models.CharField(max_length=80, help_text="user:<id> or token:<id>.")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    status_code = models.PositiveSmallIntegerField(null=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"
