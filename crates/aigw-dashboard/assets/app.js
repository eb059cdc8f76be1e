// aigateway dashboard: small enhancements only. Every page works without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Collapsible navigation on small screens.
  var nav = document.getElementById("nav");
  var toggle = document.querySelector(".nav-toggle");
  if (nav && toggle) {
    if (window.matchMedia("(max-width: 760px)").matches) {
      nav.classList.add("collapsed");
    }
    toggle.addEventListener("click", function () {
      var collapsed = nav.classList.toggle("collapsed");
      toggle.setAttribute("aria-expanded", collapsed ? "false" : "true");
    });
  }

  // Copy to clipboard: <button data-copy="element-id">.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = "Copied";
      });
    });
  });

  // OAuth onboarding: open the provider's consent page in a popup, and come
  // back to the accounts list once the callback page reports the account.
  document.querySelectorAll("a[data-popup]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      var popup = window.open(link.href, "aigw-oauth", "width=560,height=720");
      if (popup) { event.preventDefault(); }
    });
  });
  window.addEventListener("message", function (event) {
    var data = event.data;
    if (data && typeof data === "object" && data.type === "aigw-oauth" && document.querySelector("[data-oauth-wait]")) {
      window.location.href = "/ui/accounts?done=oauth";
    }
  });

  // Live figures on the overview: [data-live] elements refreshed every 10 s.
  var live = document.querySelectorAll("[data-live]");
  if (live.length && window.fetch) {
    var refresh = function () {
      fetch("/ui/live", { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (figures) {
          if (!figures) { return; }
          live.forEach(function (el) {
            var v = figures[el.getAttribute("data-live")];
            if (v !== undefined) { el.textContent = v; }
          });
        })
        .catch(function () {});
    };
    setInterval(refresh, 10000);
  }
})();
