// Shared by the review pages: JSON requests with the session cookie and Django's CSRF header.
"use strict";

window.inkloop = (function () {
  // The token Django rendered into the page (every signed-in page has one, in its logout form), so the
  // scripts need not know the CSRF cookie's name, which is inkloop's own (settings.CSRF_COOKIE_NAME).
  function csrfToken() {
    const field = document.querySelector('input[name="csrfmiddlewaretoken"]');
    return field ? field.value : "";
  }

  // Resolves to {ok, status, body}; never rejects on HTTP errors, so callers handle 409 and 400 as data.
  async function request(method, url, body) {
    const options = {method, credentials: "same-origin", headers: {"Accept": "application/json"}};
    if (method !== "GET") options.headers["X-CSRFToken"] = csrfToken();
    if (body instanceof FormData) {
      options.body = body;
    } else if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (error) {
      return {ok: false, status: 0, body: {detail: "The server could not be reached. Check your connection and try again."}};
    }
    const type = response.headers.get("Content-Type") || "";
    let data = {};
    if (type.includes("application/json")) {
      data = await response.json();
    } else if (response.redirected && response.url.includes("/login/")) {
      data = {detail: "Your session has ended. Log in again (reload the page)."};
    } else if (!response.ok) {
      data = {detail: `The server answered ${response.status} ${response.statusText}.`};
    }
    return {ok: response.ok, status: response.status, body: data};
  }

  // Sets a live region's text; clearing first makes screen readers repeat an identical message.
  function announce(region, message, kind) {
    region.textContent = "";
    region.dataset.kind = kind || "info";
    window.setTimeout(() => { region.textContent = message; }, 20);
  }

  return {request, announce, csrfToken};
})();
