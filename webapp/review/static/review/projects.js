// Project pages: after a refused save, move the focus to the list of the server's messages,
// so keyboard and screen-reader users land on what to fix (the forms work without this script).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
});
