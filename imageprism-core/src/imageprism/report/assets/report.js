
(function () {
  "use strict";
  var link = document.getElementById("export-marks");
  var count = document.getElementById("mark-count");
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input.not-duplicate"));
  function update() {
    var seen = {};
    var pairs = [];
    boxes.forEach(function (box) {
      box.closest("figure").classList.toggle("marked", box.checked);
      var pair = [box.dataset.a, box.dataset.b].sort();
      if (box.checked && !seen[pair.join(" ")]) {
        seen[pair.join(" ")] = true;
        pairs.push(pair);
      }
    });
    pairs.sort(function (x, y) { return x.join(" ") < y.join(" ") ? -1 : 1; });
    var data = JSON.stringify({ format: link.dataset.format, pairs: pairs });
    link.href = "data:application/json;charset=utf-8," + encodeURIComponent(data);
    link.setAttribute("aria-disabled", pairs.length ? "false" : "true");
    count.textContent = String(pairs.length);
  }
  boxes.forEach(function (box) { box.addEventListener("change", update); });
  Array.prototype.forEach.call(document.querySelectorAll("[data-needs-script]"), function (el) {
    el.hidden = false;
  });
  update();
})();
