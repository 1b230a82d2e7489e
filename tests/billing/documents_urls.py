"""A test-only admin site with the document mixins, until billing/admin.py mixes them in."""

from django.contrib import admin
from django.urls import path

from billing.admin_documents import (
    CreditNoteDocumentsAdminMixin,
    InvoiceDocumentsAdminMixin,
    SellerProfileAdmin,
)
from billing.models import CreditNote, Invoice, SellerProfile

site = admin.AdminSite()  # named "admin", so admin URLs reverse as on the real site


@admin.register(Invoice, site=site)
class InvoiceAdmin(InvoiceDocumentsAdminMixin, admin.ModelAdmin):
    readonly_fields = ["document_links"]


@admin.register(CreditNote, site=site)
class CreditNoteAdmin(CreditNoteDocumentsAdminMixin, admin.ModelAdmin):
    pass


site.register(SellerProfile, SellerProfileAdmin)

urlpatterns = [path("admin/", site.urls)]
