// Start-up watchdog, loaded as a classic script: when the console's modules fail to load (a
// missing or broken file, a browser without ES modules) the page says so instead of "Loading…".
(function watchStartUp() {
  "use strict";
  var START_SECONDS = 15;

  function started() {
    var app = document.getElementById("app");
    return Boolean(app && app.dataset.started === "true");
  }

  function fail(reason) {
    if (started()) return;
    var box = document.getElementById("fatal");
    if (!box) return;
    box.textContent = "The console could not start: " + reason
      + " Reload the page; if this persists, the app's files are incomplete or the browser is too old.";
    box.hidden = false;
  }

  // A script that cannot be fetched (its error event does not bubble, so it is caught here) and
  // an error thrown while the modules are evaluated, both before the console has started.
  window.addEventListener("error", function onError(event) {
    var target = event.target;
    if (target && target.tagName === "SCRIPT") fail("a script failed to load (" + target.src + ").");
    else if (event.message) fail(event.message + ".");
  }, true);
  window.setTimeout(function onTimeout() {
    fail("it did not start within " + START_SECONDS + " seconds.");
  }, START_SECONDS * 1000);
}());
