// healthpoints web client: progressive enhancement only. Every form works without this file.
// 1. An ID card number is checked as it is typed (GB 11643: 18 characters, ISO 7064 MOD 11-2
//    check character), the message shown next to the field. The server checks again.
// 2. A form is sent once: its buttons are disabled after the first press (the server is
//    idempotent anyway).
// 3. A print button (a station's voucher) appears and prints the page.
(function () {
  "use strict";
  var WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  var CHECK = "10X98765432";
  function idProblem(raw) {
    var v = raw.replace(/\s/g, "").toUpperCase();
    if (v.length === 0) { return ""; }
    if (!/^[0-9]{0,17}[0-9X]?$/.test(v) || v.length > 18) { return "check"; }
    if (v.length < 18) { return "length"; }
    var sum = 0;
    for (var i = 0; i < 17; i++) { sum += (v.charCodeAt(i) - 48) * WEIGHTS[i]; }
    return CHECK.charAt(sum % 11) === v.charAt(17) ? "" : "check";
  }
  document.querySelectorAll("input[data-idcheck]").forEach(function (input) {
    var out = document.getElementById(input.getAttribute("data-idcheck"));
    if (!out) { return; }
    function check(final) {
      var p = idProblem(input.value);
      // While typing, a short number is not yet an error.
      if (p === "length" && !final) { p = ""; }
      out.textContent = p ? input.getAttribute("data-msg-" + p) : "";
      input.setAttribute("aria-invalid", p ? "true" : "false");
    }
    input.addEventListener("input", function () { check(false); });
    input.addEventListener("blur", function () { check(true); });
  });
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () {
      window.setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });
})();
