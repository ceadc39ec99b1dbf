// The ☰ and contents buttons on every width.
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
  function setup() {
    forward("primary");
    forward("secondary");
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
