// The class page, live: heat map, histograms, common failures, latency, from one event stream.
(function () {
  var w = JSON.parse(document.getElementById("strings").textContent);
  function rows(tableId, list) {
    var body = document.querySelector("#" + tableId + " tbody");
    body.textContent = "";
    list.forEach(function (cells) {
      var tr = document.createElement("tr");
      cells.forEach(function (text) { var td = document.createElement("td"); td.textContent = text; tr.appendChild(td); });
      body.appendChild(tr);
    });
  }
  function heat(cells) {
    document.querySelectorAll("#heat tbody tr").forEach(function (tr) {
      var mine = cells[tr.dataset.student] || {};
      tr.querySelectorAll("td").forEach(function (td) {
        var v = mine[td.dataset.stage];
        if (v === undefined) { td.textContent = ""; td.style.background = ""; return; }
        td.textContent = Math.round(v * 100);
        td.style.background = "hsl(" + Math.round(v * 120) + ", 70%, 75%)";
        td.dataset.value = v;
      });
    });
  }
  function histograms(h) {
    var box = document.getElementById("histograms");
    box.textContent = "";
    Object.keys(h).sort(function (a, b) { return a - b; }).forEach(function (stage) {
      var counts = h[stage], top = Math.max.apply(null, counts.concat([1]));
      var div = document.createElement("div"); div.className = "hist"; div.dataset.stage = stage;
      var title = document.createElement("div"); title.textContent = w.stage + " " + stage; div.appendChild(title);
      var bars = document.createElement("div"); bars.className = "bars";
      counts.forEach(function (n, i) {
        var bar = document.createElement("div"); bar.className = "bar";
        bar.style.height = Math.round(60 * n / top) + "px"; bar.title = (i * 10) + "%: " + n;
        bars.appendChild(bar);
      });
      div.appendChild(bars); box.appendChild(div);
    });
  }
  function fmt(x) { return x === null || x === undefined ? "" : x.toFixed(2) + " s"; }
  var source = new EventSource("/teacher/events");
  source.addEventListener("class", function (e) {
    var s = JSON.parse(e.data);
    heat(s.heat);
    histograms(s.histograms);
    rows("failures", s.failures.map(function (f) { return [f.stage, f.case, f.students, f.message]; }));
    rows("latency", ["first_verdict_at", "finished_at", "reported_at"].map(function (k) {
      var l = s.latency[k]; return [w["latency_" + k], fmt(l.p50), fmt(l.p95), l.n];
    }));
    rows("regrades", (s.regrades || []).map(function (r) {
      return ["#" + r.id, r.stage, r.done + " / " + r.total + (r.finished ? " ✓" : "")];
    }));
    document.getElementById("states").textContent = Object.keys(s.states).sort().map(function (k) {
      return (w["state_" + k] || k) + ": " + s.states[k];
    }).join(" · ");
    document.body.dataset.updates = (parseInt(document.body.dataset.updates || "0", 10) + 1).toString();
  });
})();
