"""Interactive views on the website, where no kernel runs: the states a view's controls can reach,
computed when the site is built, switched by plotly's own controls.

In live Jupyter an `Interactive` redraws its figure from ipywidgets. A page of the website has no
Python behind it, so `site_figure` calls the same `build` function over a grid of the controls'
values (every option of a menu; up to `PER_CONTROL` values of a slider, its default and both ends
included; at most `MAX_STATES` states in all) and puts every state's traces in one figure, only the
current state's visible. Plotly's controls switch among them in the page:

* the last control is a slider, one step per value;
* the other controls share one menu listing their combinations; choosing one shows it with the
  slider's first value and gives the slider the steps of that combination.

The figure says, under the controls, which values the site offers when it offers fewer than live
Jupyter. `layout.meta["r1mini_states"]` lists every state (its values and its traces) so a test can
check that moving a control shows exactly the state Python computed for those values.

Chapters are built for the site with `R1MINI_SITE=1` in the environment (`book/build.sh` and the
test suite set it): only then are the states computed, so live Jupyter pays nothing for them.
"""

from __future__ import annotations

import html
import itertools
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go

SITE_ENV = "R1MINI_SITE"
MAX_STATES = 36  # states per view: each holds its own traces, so the page grows with them
PER_CONTROL = 7  # values of one slider at most
CONTROL_SPACE = 130  # pixels added under the plot for the controls and the note
CONTROLS_BELOW = 60  # pixels between the plot and the controls (the x axis's title sits there)
MENU_SPACE = 45  # pixels a menu takes above the slider
Choice = tuple[str, Any]  # (label shown on the control, value passed to `build`)


def building_site() -> bool:
    """Whether the chapter runs to build the website (`R1MINI_SITE=1`)."""
    return os.environ.get(SITE_ENV) == "1"


def choices(widget: widgets.ValueWidget) -> list[Choice]:
    """Every value a control offers, with its label: a menu's options, a slider's steps, a
    checkbox's two states."""
    if isinstance(widget, widgets.widgets.widget_selection._Selection):  # menus, selection sliders
        return [
            (str(label), value)
            for label, value in zip(widget._options_labels, widget._options_values, strict=True)
        ]
    if isinstance(widget, widgets.Checkbox | widgets.ToggleButton):
        return [("off", False), ("on", True)]
    if isinstance(widget, widgets.IntSlider):
        return [(str(v), v) for v in range(widget.min, widget.max + 1, widget.step)]
    if isinstance(widget, widgets.FloatSlider):
        count = round((widget.max - widget.min) / widget.step) + 1
        values = [round(widget.min + i * widget.step, 10) for i in range(count)]
        return [(f"{v:g}", v) for v in values]
    return [(str(widget.value), widget.value)]


def thin(options: Sequence[Choice], default: Any, keep: int) -> list[Choice]:
    """At most `keep` (>= 3) of `options`, evenly spread, always with both ends and the default."""
    if len(options) <= keep:
        return list(options)
    index = {int(i) for i in np.linspace(0, len(options) - 1, keep - 1).round()}
    index |= {i for i, (_, value) in enumerate(options) if value == default}
    return [options[i] for i in sorted(index)]


def state_grid(
    controls: Mapping[str, widgets.ValueWidget],
    site_values: Mapping[str, Sequence[Any]] | None = None,
    max_states: int = MAX_STATES,
) -> dict[str, list[Choice]]:
    """The values the site offers for each control: `site_values[name]` where given, else the
    control's own values thinned (the largest lists first) until their product is at most
    `max_states`."""
    grid = {}
    for name, widget in controls.items():
        offered = choices(widget)
        if site_values and name in site_values:
            labels = dict((value, label) for label, value in offered)
            offered = [(labels.get(v, str(v)), v) for v in site_values[name]]
        grid[name] = thin(offered, widget.value, PER_CONTROL)
    while np.prod([len(v) for v in grid.values()]) > max_states:
        name = max(grid, key=lambda n: len(grid[n]) if not (site_values and n in site_values) else 0)
        if len(grid[name]) <= 3:
            raise ValueError(
                f"the controls {list(grid)} give more than {max_states} states; pass site_values"
            )
        grid[name] = thin(grid[name], controls[name].value, len(grid[name]) - 1)
    return grid


def compact(trace: Any) -> dict[str, Any]:
    """`trace` as a dict whose numeric x/y/z are float32 arrays, which plotly stores as base64 (4
    bytes a number instead of ~18 characters of decimal): many states fit in a page."""
    data = trace.to_plotly_json()
    for key in ("x", "y", "z"):
        values = data.get(key)
        if values is None or isinstance(values, str):
            continue
        array = np.asarray(values, dtype=object)
        if array.size and all(isinstance(v, int | float) and not isinstance(v, bool) for v in array.flat):
            data[key] = array.astype(np.float32)
    return data


def _layout_patch(fig: go.Figure, note: dict[str, Any] | None) -> dict[str, Any]:
    """What one state changes in the layout: its title, annotations, shapes and axes."""
    layout = fig.layout.to_plotly_json()
    patch = {
        key: value
        for key, value in layout.items()
        if key in ("title", "shapes") or key.startswith(("xaxis", "yaxis", "coloraxis"))
    }
    patch["annotations"] = [*layout.get("annotations", []), *([note] if note else [])]
    patch.setdefault("shapes", [])
    return patch


def site_figure(
    build: Callable[..., go.Figure],
    controls: Mapping[str, widgets.ValueWidget],
    site_values: Mapping[str, Sequence[Any]] | None = None,
) -> go.Figure:
    """One figure holding `build(**values)` for every state of `state_grid(controls, site_values)`,
    with plotly controls that switch among them (see the module docstring)."""
    grid = state_grid(controls, site_values)
    names = list(grid)
    labels = {name: controls[name].description or name for name in names}
    menu_space = MENU_SPACE if len(names) > 1 else 0  # a menu sits above the slider, under the plot
    note = _note(grid, controls, labels, below=CONTROLS_BELOW + menu_space + CONTROL_SPACE - 10)
    default = tuple(next((i for i, (_, v) in enumerate(grid[n]) if v == controls[n].value), 0) for n in names)
    states = list(itertools.product(*(range(len(grid[n])) for n in names)))
    traces: list[Any] = []
    spans, patches = {}, {}
    base = None
    for state in states:
        fig = build(**{n: grid[n][i][1] for n, i in zip(names, state, strict=True)})
        if state == default:
            base = fig
        start = len(traces)
        for trace in fig.data:
            traces.append({**compact(trace), "visible": state == default})
        spans[state] = (start, len(traces))
        patches[state] = _layout_patch(fig, note)

    def show(state: tuple[int, ...]) -> list[Any]:
        visible = [spans[state][0] <= i < spans[state][1] for i in range(len(traces))]
        return [{"visible": visible}, dict(patches[state])]

    def slider(prefix: tuple[int, ...], active: int) -> dict[str, Any]:
        last = names[-1]
        return {
            "active": active,
            "currentvalue": {"prefix": f"{labels[last]}: "},
            "x": 0,
            "len": 1,
            "y": 0,
            "yanchor": "top",
            "pad": {"t": CONTROLS_BELOW + menu_space},
            "steps": [
                {"label": label, "method": "update", "args": show((*prefix, i))}
                for i, (label, _) in enumerate(grid[last])
            ],
        }

    result = go.Figure(data=traces, layout=base.layout)
    result.update_layout(patches[default])
    result.update_layout(sliders=[slider(default[:-1], default[-1])])
    if len(names) > 1:
        combos = list(itertools.product(*(range(len(grid[n])) for n in names[:-1])))
        buttons = []
        for combo in combos:
            args = show((*combo, 0))
            args[1]["sliders"] = [slider(combo, 0)]
            text = " · ".join(f"{labels[n]} {grid[n][i][0]}" for n, i in zip(names, combo, strict=False))
            buttons.append({"label": text, "method": "update", "args": args})
        menu = {
            "buttons": buttons,
            "active": combos.index(default[:-1]),
            "showactive": True,
            "direction": "up",
        }
        place = {"x": 0, "xanchor": "left", "y": 0, "yanchor": "top", "pad": {"t": CONTROLS_BELOW}}
        result.update_layout(updatemenus=[{**menu, **place}])
    if result.layout.legend.orientation == "h":  # a legend under the plot would sit under the controls
        result.update_layout(
            legend={"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1, "yanchor": "top"}
        )
    space = CONTROL_SPACE + menu_space
    result.update_layout(
        height=(result.layout.height or 460) + space, margin={"b": (result.layout.margin.b or 80) + space}
    )
    result.update_layout(
        meta={
            "r1mini_states": [
                {
                    "values": {n: grid[n][i][0] for n, i in zip(names, state, strict=True)},
                    "traces": list(spans[state]),
                }
                for state in states
            ],
            "r1mini_controls": [labels[n] for n in names],
        }
    )
    return result


def _note(
    grid: Mapping[str, list[Choice]],
    controls: Mapping[str, widgets.ValueWidget],
    labels: Mapping[str, str],
    below: int,
) -> dict[str, Any] | None:
    """A line under the controls naming the values offered, when live Jupyter has more."""
    thinned = [
        f"{labels[n]} {', '.join(label for label, _ in grid[n])}"
        for n in grid
        if len(grid[n]) < len(choices(controls[n]))
    ]
    if not thinned:
        return None
    return {
        "text": "On this page: " + "; ".join(thinned) + " (every value in live Jupyter)",
        "xref": "paper",
        "yref": "paper",
        "x": 0,
        "y": 0,
        "yshift": -below,
        "showarrow": False,
        "xanchor": "left",
        "font": {"size": 11, "color": "#555555"},
    }


def site_html(
    build: Callable[..., str],
    controls: Mapping[str, widgets.ValueWidget],
    site_values: Mapping[str, Sequence[Any]] | None = None,
) -> str:
    """`build(**values)` for every state of `state_grid(controls, site_values)`, with one menu per
    control that shows the state chosen (an HTML view has no plotly controls: a `<select>` each)."""
    grid = state_grid(controls, site_values)
    names = list(grid)
    root = f"r1mini-view-{uuid.uuid4().hex[:10]}"
    default = [next((i for i, (_, v) in enumerate(grid[n]) if v == controls[n].value), 0) for n in names]
    menus = "".join(
        f'<label style="margin-right:14px">{html.escape(controls[n].description or n)} <select>'
        + "".join(
            f'<option value="{i}"{" selected" if i == default[k] else ""}>{html.escape(label)}</option>'
            for i, (label, _) in enumerate(grid[n])
        )
        + "</select></label>"
        for k, n in enumerate(names)
    )
    states = []
    for state in itertools.product(*(range(len(grid[n])) for n in names)):
        key = ",".join(map(str, state))
        shown = "" if list(state) == default else "display:none"
        body = build(**{n: grid[n][i][1] for n, i in zip(names, state, strict=True)})
        states.append(f'<div data-state="{key}" style="{shown}">{body}</div>')
    script = (
        f"(() => {{ const root = document.getElementById('{root}');"
        " const menus = [...root.querySelectorAll('select')];"
        " const show = () => { const key = menus.map(m => m.value).join(',');"
        " root.querySelectorAll('[data-state]').forEach(d => {"
        " d.style.display = d.dataset.state === key ? '' : 'none'; }); };"
        " menus.forEach(m => m.addEventListener('change', show)); })();"
    )
    controls_html = f'<div style="margin:6px 0">{menus}</div>'
    return f'<div id="{root}">{controls_html}{"".join(states)}<script>{script}</script></div>'
