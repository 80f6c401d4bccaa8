// The account form's Override switch: the call-recording fields show the product's values while Override
// is off and become editable when it is on. The server decides what is saved; this only spares a reload.
document.addEventListener("DOMContentLoaded", function () {
  var box = document.querySelector("fieldset[data-products]");
  if (!box) return;
  var form = box.closest("form");
  var override = box.querySelector("[data-override]");
  var product = form.querySelector("[data-product-select]");
  var editable = form.querySelector("input[name=config_editable]");
  var note = box.querySelector("[data-override-note]");
  var flags = box.querySelectorAll("[data-flag]");
  var products = JSON.parse(box.dataset.products || "{}");

  function showProduct() {
    var values = products[product.value] || {};
    flags.forEach(function (flag) { flag.checked = !!values[flag.dataset.flag]; });
  }
  function sync(fromProduct) {
    var on = override.checked;
    editable.value = on ? "1" : "0";
    flags.forEach(function (flag) { flag.disabled = !on; });
    if (!on || fromProduct) showProduct();
    note.textContent = on ? "The account's own configuration applies; it starts from the product's values."
                          : "Override is off: the product's values are shown and apply. Turn Override on to edit them.";
  }
  override.addEventListener("change", function () { sync(override.checked && editable.value !== "1"); });
  product.addEventListener("change", function () { if (!override.checked) showProduct(); });
  if (override.checked && editable.value !== "1") sync(true);
});
