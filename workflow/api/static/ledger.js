// The ledger page: "全选本页" ticks or clears every row's box (rows swapped in by htmx too).
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var all = event.target;
    if (all.id !== "pick-all") { return; }
    document.querySelectorAll("#chase-form input[name=issue]").forEach(function (box) {
      box.checked = all.checked;
    });
  });
})();
