// One submission's results, streamed: queue position, each stage's case verdicts, then the report.
(function () {
  var w = JSON.parse(document.getElementById("strings").textContent);
  var status = document.getElementById("status");
  var body = document.querySelector("#cases tbody");
  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
  }
  function fmt(x) { return (Math.round(x * 1000) / 1000).toString(); }
  function showStage(st) {
    (st.cases || []).forEach(function (c) {
      var tr = document.createElement("tr");
      tr.className = "case " + c.status;
      cell(tr, st.number + " " + st.slug);
      cell(tr, c.name + (c.hidden ? " (" + w.hidden + ")" : ""));
      cell(tr, w["verdict_" + c.status] || c.status, c.status);
      cell(tr, fmt(c.score) + " / " + fmt(c.max_score));
      cell(tr, c.message + (c.hint ? "\n" + c.hint : ""));
      body.appendChild(tr);
    });
    if (!(st.cases || []).length) {
      var tr = document.createElement("tr");
      tr.className = "case " + st.status;
      cell(tr, st.number + " " + st.slug); cell(tr, ""); cell(tr, w["verdict_" + st.status] || st.status, st.status);
      cell(tr, fmt(st.score) + " / " + fmt(st.max_score)); cell(tr, st.message);
      body.appendChild(tr);
    }
  }
  var source = new EventSource(status.dataset.events);
  source.addEventListener("position", function (e) {
    var p = JSON.parse(e.data);
    status.textContent = p.state === "running" ? w.running :
      w.queued.replace("{ahead}", p.ahead).replace("{estimate}", Math.max(1, Math.round(p.estimate_s)));
  });
  source.addEventListener("stage", function (e) {
    status.textContent = w.running;
    showStage(JSON.parse(e.data));
  });
  source.addEventListener("final", function (e) {
    source.close();
    var f = JSON.parse(e.data);
    status.textContent = w["state_" + f.state] || f.state;
    status.dataset.state = f.state;
    if (f.state === "graded") {
      document.getElementById("score").textContent = w.score + ": " + fmt(f.score) + " / " + fmt(f.max_score);
      var frame = document.createElement("iframe");
      frame.src = status.dataset.report;
      frame.title = w.report;
      document.getElementById("report").appendChild(frame);
    } else if (f.reason) {
      document.getElementById("score").textContent = f.reason;
    }
  });
})();
