// The ☰ and contents buttons on every width, and no script error on pages without contents.
//
// sphinx-book-theme 1.3 draws its own header buttons (.primary-toggle, .secondary-toggle)
// beside pydata-sphinx-theme 0.17's, but both themes' scripts hook up only the first button
// of each kind (document.querySelector): pydata's, which this layout hides. The visible
// buttons did nothing, so at phone width the chapter list could not be opened. A click on
// any other button of a kind is handed to the first one, which both themes listen to.
(function () {
  function forward(kind) {
    var buttons = Array.prototype.slice.call(document.querySelectorAll("." + kind + "-toggle"));
    var first = buttons[0];
    buttons.slice(1).forEach(function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        event.stopPropagation();
        first.click();
      });
    });
  }
  // sphinx-book-theme hides the page's contents sidebar while full-width or margin content is
  // on screen, and assumes the sidebar exists: on a page without headings (the scoreboard) it
  // does not, and the theme's observer throws on every scroll. An empty, hidden one is enough.
  function secondarySidebarPlaceholder() {
    if (!document.querySelector("div.bd-sidebar-secondary")) {
      var placeholder = document.createElement("div");
      placeholder.className = "bd-sidebar-secondary";
      placeholder.hidden = true;
      document.body.appendChild(placeholder);
    }
  }
  function setup() {
    forward("primary");
    forward("secondary");
    secondarySidebarPlaceholder();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
