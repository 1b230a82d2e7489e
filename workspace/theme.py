"""RMS's look in the admin: its theme for django-admin-interface, and how to make it the active one.

A theme is a row (``admin_interface.Theme``), so a team can still restyle RMS from the admin
("Admin Interface" > "Themes") without touching code. Migration ``workspace.0002`` installs it;
the browser tests install it again after their database flushes, so screenshots show RMS's look.
The iframe pop-ups for related objects stay off: they need ``X_FRAME_OPTIONS = "SAMEORIGIN"``,
and production keeps ``DENY``.
"""

RMS_THEME = {
    "name": "RMS",
    "title": "RMS · Revenue Management",
    "title_visible": True,
    "title_color": "#FFFFFF",
    "env_visible_in_header": False,
    "env_visible_in_favicon": False,
    "logo_visible": False,
    "css_header_background_color": "#163A5A",
    "css_header_text_color": "#D6E4F0",
    "css_header_link_color": "#FFFFFF",
    "css_header_link_hover_color": "#9CC3E6",
    "css_module_background_color": "#1F4E79",
    "css_module_background_selected_color": "#EAF2FA",
    "css_module_text_color": "#FFFFFF",
    "css_module_link_color": "#FFFFFF",
    "css_module_link_selected_color": "#FFFFFF",
    "css_module_link_hover_color": "#9CC3E6",
    "css_module_rounded_corners": True,
    "css_generic_link_color": "#1F5F99",
    "css_generic_link_hover_color": "#0D3A63",
    "css_generic_link_active_color": "#0D3A63",
    "css_save_button_background_color": "#1F4E79",
    "css_save_button_background_hover_color": "#163A5A",
    "css_save_button_text_color": "#FFFFFF",
    "css_delete_button_background_color": "#B3261E",
    "css_delete_button_background_hover_color": "#8C1D18",
    "css_delete_button_text_color": "#FFFFFF",
    "related_modal_active": False,
    "language_chooser_active": False,
    "list_filter_dropdown": False,
    "list_filter_highlight": True,
    "list_filter_removal_links": True,
    "foldable_apps": True,
    "recent_actions_visible": False,
    "form_submit_sticky": True,
    "form_pagination_sticky": True,
}


def activate_rms_theme(theme_model) -> None:
    """Make RMS's theme the only active one (``theme_model`` may be a historical model)."""
    theme_model.objects.update(active=False)
    theme_model.objects.update_or_create(
        name=RMS_THEME["name"], defaults={**RMS_THEME, "active": True}
    )
