// The 督办单's 打印 button: the browser prints the page (or saves it as PDF).
document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("print");
  if (button) {
    button.addEventListener("click", () => window.print());
  }
});
