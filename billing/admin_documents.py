"""Documents in the back office: invoice and credit note previews and PDFs, customer statements,
and the seller profile printed on every document.

The mixins add their views to a ``ModelAdmin``'s ``get_urls()`` behind ``admin_view`` (login
and staff required) and the model's view permission; ``billing/admin.py`` mixes them into the
invoice and credit note admins.
"""

from datetime import date

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from billing import documents
from billing.models import SellerProfile
from contracts.models import Customer


def pdf_response(data: bytes, filename: str, *, inline: bool = False) -> HttpResponse:
    """Return PDF bytes as a download (or shown in the browser's viewer when ``inline``)."""
    response = HttpResponse(data, content_type="application/pdf")
    disposition = "inline" if inline else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    return response


class DocumentsAdminMixin:
    """Add ``<id>/preview/`` (HTML) and ``<id>/pdf/`` (download) to a document's admin.

    Subclasses name the two renderers; the row is loaded through the admin's own queryset, so
    whatever the admin hides stays hidden here too.
    """

    document_html: staticmethod
    document_pdf: staticmethod

    def get_urls(self) -> list[URLPattern]:
        return [*document_urls(self), *super().get_urls()]

    def _document(self, request: HttpRequest, object_id: str):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with id {object_id}.")
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return obj

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return HttpResponse(self.document_html(self._document(request, object_id)))

    def pdf_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self._document(request, object_id)
        return pdf_response(self.document_pdf(obj), f"{obj.number or obj.pk}.pdf")

    @admin.display(description="Document")
    def document_links(self, obj) -> str:
        """Link the preview and the PDF from the change page (add to ``readonly_fields``)."""
        if obj is None or obj.pk is None:
            return "—"
        info = self.opts.app_label, self.opts.model_name
        return format_html(
            '<a href="{}" target="_blank">Preview</a> · <a href="{}">PDF</a>',
            reverse(f"admin:{info[0]}_{info[1]}_preview", args=[obj.pk]),
            reverse(f"admin:{info[0]}_{info[1]}_pdf", args=[obj.pk]),
        )


def document_urls(model_admin: DocumentsAdminMixin) -> list[URLPattern]:
    """Return the preview and PDF URL patterns of one document admin, named like the admin's.

    They must come before the admin's own patterns, whose ``<path:object_id>/`` catch-all would
    otherwise take ``<id>/preview/``.
    """
    wrap = model_admin.admin_site.admin_view
    info = model_admin.opts.app_label, model_admin.opts.model_name
    return [
        path(
            "<path:object_id>/preview/",
            wrap(model_admin.preview_view),
            name="{}_{}_preview".format(*info),
        ),
        path("<path:object_id>/pdf/", wrap(model_admin.pdf_view), name="{}_{}_pdf".format(*info)),
    ]


class InvoiceDocumentsAdminMixin(DocumentsAdminMixin):
    """Invoice preview and PDF, and a customer's statement of account under the invoices.

    The statement is at ``statement/<customer_id>/?as_of=YYYY-MM-DD`` (today by default), for
    users who may view both invoices and customers.
    """

    document_html = staticmethod(documents.invoice_html)
    document_pdf = staticmethod(documents.invoice_pdf)

    def get_urls(self) -> list[URLPattern]:
        statement = path(
            "statement/<int:customer_id>/",
            self.admin_site.admin_view(self.statement_view),
            name=f"{self.opts.app_label}_statement",
        )
        # Ahead of the inherited patterns, for the same catch-all reason as document_urls.
        return [statement, *super().get_urls()]

    def statement_view(self, request: HttpRequest, customer_id: int) -> HttpResponse:
        if not (
            self.has_view_permission(request) and request.user.has_perm("contracts.view_customer")
        ):
            raise PermissionDenied
        customer = get_object_or_404(Customer, pk=customer_id)
        raw = request.GET.get("as_of", "")
        try:
            as_of = date.fromisoformat(raw) if raw else timezone.localdate()
        except ValueError:
            return HttpResponseBadRequest(f"as_of must be a date as YYYY-MM-DD, not {raw!r}.")
        data = documents.statement_pdf(customer, as_of)
        return pdf_response(data, f"statement-{customer.number}-{as_of}.pdf")


class CreditNoteDocumentsAdminMixin(DocumentsAdminMixin):
    """Credit note preview and PDF."""

    document_html = staticmethod(documents.credit_note_html)
    document_pdf = staticmethod(documents.credit_note_pdf)


@admin.register(SellerProfile)
class SellerProfileAdmin(admin.ModelAdmin):
    """The one seller profile: its list opens the profile itself; never added nor deleted.

    ``SellerProfile.current()`` creates the row on first use, so there is always exactly one.
    """

    fieldsets = [
        (None, {"fields": ["legal_name", "address", "tax_id", "logo"]}),
        ("Contact", {"fields": ["email", "phone", "website"]}),
        ("On every document", {"fields": ["remit_to", "invoice_footer"]}),
    ]

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        return redirect("admin:billing_sellerprofile_change", SellerProfile.current().pk)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
