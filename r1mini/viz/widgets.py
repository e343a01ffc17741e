"""`Interactive`: a figure driven by ipywidgets controls that degrades to a static figure
(`InteractiveHTML`: the same for HTML, e.g. responses side by side).

In live Jupyter the controls redraw the figure. The same output also carries, as `text/html`, a
figure for the website (which has no kernel to run the callbacks), shown there instead of the
widget (`nb_mime_priority_overrides` in book/_config.yml): when the site is built, every state of a
grid of the controls' values with plotly's own controls (`r1mini.viz.site`); otherwise the figure
for the controls' current values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go

from r1mini.viz.site import building_site, site_figure, site_html
from r1mini.viz.style import figure_html


class _Controlled:
    """Controls (name -> ipywidgets widget) above an output that `redraw()` fills from
    `build(**values)` whenever a control changes; subclasses say what the output is."""

    def __init__(
        self, build: Callable[..., Any], output: widgets.DOMWidget, **controls: widgets.ValueWidget
    ) -> None:
        if not controls:
            raise ValueError(f"{type(self).__name__} needs at least one control widget")
        self.build, self.controls, self.output = build, controls, output
        for control in controls.values():
            control.observe(lambda _change: self.redraw(), names="value")
        self.widget = widgets.VBox([widgets.HBox(list(controls.values())), self.output])
        self.redraw()

    def values(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self) -> None:
        raise NotImplementedError


class Interactive(_Controlled):
    """`build(**values)` -> Figure, redrawn whenever one of `controls` (name -> widget) changes.

    On the website it is one figure holding the states of a grid of the controls' values, switched
    by plotly's own controls (`r1mini.viz.site`); `site_values` (name -> values) chooses a
    control's values there instead of spreading them evenly over its range."""

    def __init__(
        self,
        build: Callable[..., go.Figure],
        site_values: Mapping[str, Sequence[Any]] | None = None,
        **controls: widgets.ValueWidget,
    ) -> None:
        self.site_values = site_values
        super().__init__(build, widgets.Output(), **controls)

    def figure(self) -> go.Figure:
        """The figure for the controls' current values."""
        return self.build(**self.values())

    def redraw(self) -> None:
        show_figure(self.output, self.figure())

    def site_figure(self) -> go.Figure:
        """The website's figure: every state of the controls' grid, with plotly controls."""
        return site_figure(self.build, self.controls, self.site_values)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        fig = self.site_figure() if building_site() else self.figure()
        return with_static_figure(self.widget, fig, include, exclude)


class InteractiveHTML(_Controlled):
    """`build(**values)` -> HTML, redrawn whenever one of `controls` (name -> widget) changes.

    The HTML counterpart of `Interactive` (e.g. responses side by side): live Jupyter shows the
    controls above the HTML; the website, which has no kernel, shows every state of the controls'
    grid behind one menu per control (`r1mini.viz.site.site_html`).
    """

    def __init__(
        self,
        build: Callable[..., str],
        site_values: Mapping[str, Sequence[Any]] | None = None,
        **controls: widgets.ValueWidget,
    ) -> None:
        self.site_values = site_values
        super().__init__(build, widgets.HTML(), **controls)

    def html(self) -> str:
        """The HTML for the controls' current values."""
        return self.build(**self.values())

    def redraw(self) -> None:
        self.output.value = self.html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude)
        bundle["text/html"] = (
            site_html(self.build, self.controls, self.site_values) if building_site() else self.html()
        )
        return bundle


def show_figure(output: widgets.Output, fig: go.Figure) -> None:
    """Replace what `output` shows with `fig` (as HTML: the page already holds plotly.js)."""
    html = figure_html(fig)
    output.outputs = ({"output_type": "display_data", "data": {"text/html": html}, "metadata": {}},)


def with_static_figure(
    widget: widgets.DOMWidget, fig: go.Figure, include: Any = None, exclude: Any = None
) -> dict[str, Any]:
    """`widget`'s display bundle plus `fig` as `text/html`, the static fallback the website shows."""
    bundle = widget._repr_mimebundle_(include=include, exclude=exclude)
    bundle["text/html"] = figure_html(fig)
    return bundle
