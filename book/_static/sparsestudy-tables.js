// Numbers in the tables of cell outputs: right-aligned and never broken across lines.
//
// pandas writes no class that tells a number from text, and a table holds both (C08's
// crossings "0.206 ± 0.007" beside a verdict table's sentences). Each cell whose whole text is
// a number (optionally "± number", a unit or a percent sign) gets the class "num", which
// book/_static/sparsestudy.css right-aligns and keeps on one line; text cells wrap as prose.
(function () {
  var NUMBER = /^[-+\u2212]?(\d[\d,]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?(\s*±\s*\d[\d,]*(\.\d*)?([eE][-+]?\d+)?)?\s*(%|dB|s|pts?|points)?$/;
  function mark() {
    var cells = document.querySelectorAll(".cell_output .text_html td");
    Array.prototype.forEach.call(cells, function (td) {
      var text = (td.textContent || "").trim();
      if (text && NUMBER.test(text)) {
        td.classList.add("num");
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mark);
  } else {
    mark();
  }
})();
