/* The lesson editor's toolbar: an enhancement only. Without script the toolbar stays
   hidden and the text box works as a plain textarea (HTML or plain text). The buttons
   wrap the selected text in the markup named by their data-before / data-after. */
(function () {
  "use strict";
  var bars = document.querySelectorAll(".editor-toolbar[data-for]");
  Array.prototype.forEach.call(bars, function (bar) {
    var area = document.getElementById(bar.getAttribute("data-for"));
    if (!area || typeof area.setRangeText !== "function") {
      return;
    }
    bar.hidden = false;
    bar.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-before]");
      if (!button) {
        return;
      }
      var start = area.selectionStart;
      var end = area.selectionEnd;
      var before = button.getAttribute("data-before");
      var after = button.getAttribute("data-after") || "";
      var text = area.value.slice(start, end);
      area.setRangeText(before + text + after, start, end, "end");
      area.focus();
      area.setSelectionRange(start + before.length, start + before.length + text.length);
    });
  });
})();
