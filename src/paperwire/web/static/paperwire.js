// Progressive enhancement only: every page works without this file.
// Math: an element with data-tex holds the text as received (with its TeX); the page shows the
// plain Unicode version, and this swaps in the TeX and lets KaTeX render it.
(function () {
  "use strict";

  var DELIMITERS = [
    { left: "$$", right: "$$", display: true },
    { left: "\\[", right: "\\]", display: true },
    { left: "\\(", right: "\\)", display: false },
    { left: "$", right: "$", display: false }
  ];

  function renderMath(root) {
    if (typeof window.renderMathInElement !== "function") {
      return;
    }
    root.querySelectorAll("[data-tex]").forEach(function (element) {
      var plain = element.textContent;
      var failed = false;
      element.textContent = element.getAttribute("data-tex");
      element.removeAttribute("data-tex");
      try {
        window.renderMathInElement(element, {
          delimiters: DELIMITERS,
          throwOnError: true, // KaTeX's error display uses inline styles, which the CSP refuses
          trust: false,
          errorCallback: function () { failed = true; }
        });
      } catch (error) {
        failed = true;
      }
      if (failed) {
        element.textContent = plain; // malformed TeX: keep the plain Unicode text
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    renderMath(document);
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    renderMath(event.target);
  });
})();
