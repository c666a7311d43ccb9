// The student's page: a CodeMirror editor on the code box; choosing a stage loads its last code.
(function () {
  var box = document.getElementById("code");
  var select = document.getElementById("stage");
  if (!box || !select) return;
  var editor = window.CodeMirror ? CodeMirror.fromTextArea(box, {mode: "python", lineNumbers: true, indentUnit: 4}) : null;
  window.gradeEditor = editor;
  function codeFor(stage) {
    var node = document.querySelector('.stage-code[data-stage="' + stage + '"]');
    return node ? node.value : "";
  }
  select.addEventListener("change", function () {
    if (editor) editor.setValue(codeFor(select.value)); else box.value = codeFor(select.value);
  });
  // Submitting stays on this page until the submission is stored: a refusal (full queue, rate
  // limit, a bad file) is shown here with the code still in the editor.
  var form = document.getElementById("submit-form");
  var note = document.getElementById("submit-message");
  form.addEventListener("submit", function (event) {
    if (editor) editor.save();
    if (!window.fetch || !window.FormData) return;  // the plain form then
    event.preventDefault();
    var button = document.getElementById("evaluate");
    button.disabled = true;
    note.textContent = "";
    fetch(form.action, {method: "POST", body: new FormData(form), headers: {"Accept": "application/json"},
                        credentials: "same-origin"})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
      .then(function (res) {
        if (res.ok) { window.location.assign(res.body.url); return; }
        note.textContent = res.body.error;
        button.disabled = false;
      })
      .catch(function (err) { note.textContent = String(err); button.disabled = false; });
  });
})();
