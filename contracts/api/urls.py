"""Routes of the contracts API, mounted under ``/api/v1/`` by ``rms.api_urls``."""

from rest_framework.routers import SimpleRouter

from contracts.api import views

router = SimpleRouter()
router.register("customers", views.CustomerViewSet, basename="customer")
router.register("products", views.ProductViewSet, basename="product")
router.register("contracts", views.ContractViewSet, basename="contract")

urlpatterns = router.urls
