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
  document.getElementById("submit-form").addEventListener("submit", function () {
    if (editor) editor.save();
  });
})();
