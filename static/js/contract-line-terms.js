/* Show each contract line only the terms of its billing model.
 *
 * The stacked inline renders every model's fieldset (subscription, one-time) so that the form
 * works without JavaScript; this hides the ones that do not apply, per line, and follows the
 * "Billing model" select as it changes. Lines added with "Add another" are handled too.
 */
"use strict";
(function () {
  function applyTerms(select) {
    const line = select.closest(".inline-related");
    if (!line) return;
    line.querySelectorAll("fieldset[class*='terms-']").forEach(function (fieldset) {
      const model = Array.from(fieldset.classList)
        .find(function (name) { return name.startsWith("terms-"); })
        .slice("terms-".length);
      // An empty model means "the product's default": keep every section visible then.
      fieldset.hidden = select.value !== "" && select.value !== model;
    });
  }

  function isBillingModelSelect(element) {
    return element.matches && element.matches("select[name$='-billing_model']");
  }

  document.addEventListener("change", function (event) {
    if (isBillingModelSelect(event.target)) applyTerms(event.target);
  });
  document.addEventListener("formset:added", function (event) {
    event.target.querySelectorAll("select[name$='-billing_model']").forEach(applyTerms);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[name$='-billing_model']").forEach(applyTerms);
  });
})();
