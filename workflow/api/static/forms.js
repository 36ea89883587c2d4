// rectify's page forms: evidence uploaded with progress before the form is sent, and the
// monthly report's draft kept in this browser until it is sent.
(function () {
  "use strict";
  function csrf() {
    var found = document.cookie.split("; ").find(function (c) { return c.indexOf("rectify_csrf=") === 0; });
    return found ? decodeURIComponent(found.slice("rectify_csrf=".length)) : "";
  }
  document.querySelectorAll("input[type=file][data-upload]").forEach(function (input) {
    var box = input.closest(".evidence");
    var bar = box.querySelector("progress");
    var status = box.querySelector(".upload-status");
    var list = box.querySelector(".uploaded");
    var form = input.closest("form");
    input.addEventListener("change", function () {
      var file = input.files[0];
      if (!file) { return; }
      var body = new FormData();
      body.append("file", file);
      var request = new XMLHttpRequest();
      request.open("POST", input.dataset.upload);
      request.setRequestHeader("X-CSRF-Token", csrf());
      bar.hidden = false; bar.value = 0;
      status.textContent = "正在上传 " + file.name + "…";
      form.querySelector("button[type=submit]").disabled = true;
      request.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); }
      });
      request.addEventListener("loadend", function () {
        form.querySelector("button[type=submit]").disabled = false;
        input.value = "";
        var answer = null;
        try { answer = JSON.parse(request.responseText); } catch (e) { answer = null; }
        if (request.status === 201 && answer) {
          bar.value = 100;
          status.textContent = "已上传 " + answer.name;
          var hidden = document.createElement("input");
          hidden.type = "hidden"; hidden.name = "evidence";
          hidden.value = answer.sha256 + "/" + answer.name;
          form.appendChild(hidden);
          var item = document.createElement("li");
          item.textContent = answer.name;
          list.appendChild(item);
        } else {
          bar.hidden = true;
          status.textContent = "上传失败：" + ((answer && answer.detail) || request.statusText || "网络错误");
        }
      });
      request.send(body);
    });
  });
  document.querySelectorAll("form[data-draft]").forEach(function (form) {
    var key = "rectify-draft-" + form.dataset.draft;
    var status = form.querySelector(".draft-status");
    var names = ["month", "percent", "text"];
    var saved = null;
    try { saved = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { saved = null; }
    if (saved && !form.querySelector(".error")) {
      names.forEach(function (n) { if (saved[n] !== undefined) { form.elements[n].value = saved[n]; } });
      status.textContent = "已恢复未报送的草稿";
    }
    form.addEventListener("input", function () {
      var draft = {};
      names.forEach(function (n) { draft[n] = form.elements[n].value; });
      localStorage.setItem(key, JSON.stringify(draft));
      status.textContent = "草稿已保存在本机";
    });
    form.addEventListener("submit", function () { localStorage.removeItem(key); });
  });
}());
