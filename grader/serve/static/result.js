// One submission's results, streamed: queue position, each case's verdict as it comes, each stage's
// (which replace its cases' rows), then the report.
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
  // what arrived, in order, with the streamed rows on the page then (the browser test reads it)
  window.gradeEvents = [];
  function arrived(kind) { window.gradeEvents.push([kind, body.querySelectorAll("tr.streamed").length]); }
  function caseRow(number, slug, c, streamed) {
    var tr = document.createElement("tr");
    tr.className = "case " + (streamed ? "streamed " : "") + c.status;
    tr.dataset.stage = number;
    cell(tr, number + " " + slug);
    cell(tr, c.name + (c.hidden ? " (" + w.hidden + ")" : ""));
    cell(tr, w["verdict_" + c.status] || c.status, c.status);
    cell(tr, fmt(c.score) + " / " + fmt(c.max_score));
    cell(tr, c.message + (c.hint ? "\n" + c.hint : ""));
    body.appendChild(tr);
  }
  function showStage(st) {
    // the stage's verdicts are the authoritative ones: they replace the rows its cases streamed
    Array.prototype.slice.call(body.querySelectorAll("tr")).forEach(function (tr) {
      if (tr.dataset.stage === String(st.number)) body.removeChild(tr);
    });
    (st.cases || []).forEach(function (c) { caseRow(st.number, st.slug, c, false); });
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
  source.addEventListener("case", function (e) {
    var v = JSON.parse(e.data);
    arrived("case");
    status.textContent = w.running;
    caseRow(v.stage, v.slug, v.case, true);
  });
  source.addEventListener("stage", function (e) {
    arrived("stage");
    status.textContent = w.running;
    showStage(JSON.parse(e.data));
  });
  source.addEventListener("final", function (e) {
    arrived("final");
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
