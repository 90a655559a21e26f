"""``sweep launch``'s warning when a search runs below the level a calibration trusts.

Imports: :mod:`sweep.record`, :mod:`sweep.values`, the recipe presets and this package's
``summary`` (for the number formats); never the engine (the engine imports this module).
"""

from __future__ import annotations

from sweep import record
from sweep.calibration.summary import ci_text, show
from sweep.values import is_number


# ----------------------------------------------------------------------------- sweep launch hook
def launch_warning(spec, profile: str, study) -> str | None:
    """One line when a search's recipe is below the level that a calibration of the same
    question (same base study, or same question text, same generator) in the same storage
    trusts; None otherwise, and never an exception (a launch must not fail here)."""
    try:
        return _launch_warning(spec, profile, study)
    except Exception:  # a warning hook must never break a launch
        return None


def _launch_warning(spec, profile: str, study) -> str | None:
    from proxy_tasks.recipe import as_dict, make_recipe

    if record.STUDY_CALIBRATION_PLAN in study.user_attrs:
        return None  # the calibration study itself
    found = []
    for fs in study._storage.get_all_studies():
        s = fs.user_attrs.get(record.STUDY_CALIBRATION)
        if not s or fs.study_name == study.study_name or not s.get("analysis"):
            continue
        same = s.get("base_study") == spec.study or (
            spec.question and s.get("question") == spec.question
        )
        if same and s.get("generator") == spec.generator:
            found.append((s.get("profile") == profile, s.get("analyzed_at") or "", s))
    if not found:
        return None
    s = max(found, key=lambda f: (f[0], f[1]))[2]
    levels, v = s["levels"], s["verdict"]
    trusted = v.get("level") or v["target"]
    pos = [lv["name"] for lv in levels].index(trusted)
    searched = {t[len("recipe.") :] for p in spec.search for t in p.targets}
    mine = as_dict(make_recipe(profile, spec.recipe(profile)))
    below = []
    for field, want in levels[pos]["ladder"].items():
        if field in searched or field not in mine:
            continue
        have = mine[field]
        if is_number(have) and is_number(want):
            if have < want:
                below.append(f"{field} {show(have)} < {show(want)}")
        elif have != want and have in [lv["ladder"].get(field) for lv in levels[:pos]]:
            below.append(f"{field} {have!r} (a cheaper level's) instead of {want!r}")
    if not below:
        return None
    if v.get("level"):
        why = (
            f"the cheapest level whose corrected Spearman with '{v['target']}' is >= "
            f"{v['threshold']:g}: {ci_text(v.get('corrected'), v.get('ci'))}"
        )
    else:
        why = f"no cheaper level reached a corrected Spearman of {v['threshold']:g} with it"
    return (
        f"this search's recipe is below level '{trusted}' of calibration '{s['study']}' "
        f"({why}): {'; '.join(below)}; its ranking may not be the target's "
        f"(sweep calibrate FILE --analyze-only shows the numbers)"
    )
