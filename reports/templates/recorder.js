// Records script errors into the page: a red banner, and html[data-errors] for headless checks.
(function () {
  var errs = [];
  function put() {
    var d = document.documentElement;
    d.setAttribute('data-errors', JSON.stringify(errs));
    var b = document.getElementById('errors');
    if (b && errs.length) {
      b.style.display = 'block';
      b.textContent = 'Script errors on this page: ' + errs.join(' | ');
    }
  }
  window.addEventListener('error', function (e) {
    errs.push(String(e.message || e.type));
    put();
  }, true);
  window.addEventListener('unhandledrejection', function (e) {
    errs.push('unhandled rejection: ' + String(e.reason));
    put();
  });
  var ce = console.error;
  console.error = function () {
    errs.push(Array.prototype.map.call(arguments, String).join(' '));
    put();
    return ce.apply(console, arguments);
  };
  window.__sweepErrors = errs;
  document.addEventListener('DOMContentLoaded', put);
  put();
})();
