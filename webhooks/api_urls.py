"""Routes of the webhook API, mounted under ``/api/v1/`` by ``rms.api_urls``."""

from rest_framework.routers import SimpleRouter

from webhooks import api

router = SimpleRouter()
router.register("webhook-endpoints", api.WebhookEndpointViewSet, basename="webhook-endpoint")
router.register("webhook-deliveries", api.WebhookDeliveryViewSet, basename="webhook-delivery")

urlpatterns = router.urls
