// Counts the drawn plots into html[data-plots] and makes a click on a point open its trial's row.
(function () {
  var n = 0;
  document.querySelectorAll('.figure').forEach(function (d) {
    var p = d.querySelector('.js-plotly-plot');
    if (!p) {
      return;
    }
    n += 1;
    if (d.dataset.trialClick && p.on) {
      p.on('plotly_click', function (e) {
        var c = e.points && e.points[0] && e.points[0].customdata;
        if (c !== undefined && c !== null) {
          location.hash = 'trial-' + c;
        }
      });
    }
  });
  document.documentElement.setAttribute('data-plots', String(n));
})();
