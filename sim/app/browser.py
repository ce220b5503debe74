"""The page's two small needs from the browser itself: the address bar and undo shortcuts.

The view's query string is written into the address with ``history.replaceState`` (no reload,
no entry per lever step in the back history), so the address is always a link to the view.
Ctrl+Z and Ctrl+Shift+Z (or Ctrl+Y; Cmd on a Mac) undo and redo the page's edits, except while
a text field has the focus, where they keep their usual meaning for the text.
"""

from __future__ import annotations

from collections.abc import Callable

import ipyvuetify as v
import solara
import traitlets


class BridgeWidget(v.VuetifyTemplate):
    """Mirrors ``query`` into the address bar; reports undo/redo key presses."""

    template = traitlets.Unicode("""
<template>
  <span class="spc-bridge-widget" style="display:none" :data-query="query"></span>
</template>
<script>
module.exports = {
  mounted() {
    this.onKey = (event) => {
      if (!(event.ctrlKey || event.metaKey) || event.altKey) return;
      const key = event.key.toLowerCase();
      const target = event.target;
      const typing = target && (target.isContentEditable ||
        (/^(INPUT|TEXTAREA)$/.test(target.tagName) &&
         !/^(range|checkbox|radio|button|file)$/.test(target.type || "")
         && target.getAttribute("role") !== "slider"));
      if (typing) return;
      if (key === "z" && !event.shiftKey) { this.shortcut("undo"); event.preventDefault(); }
      else if ((key === "z" && event.shiftKey) || key === "y") {
        this.shortcut("redo"); event.preventDefault();
      }
    };
    document.addEventListener("keydown", this.onKey);
    this.write(this.query);
  },
  destroyed() { document.removeEventListener("keydown", this.onKey); },
  watch: { query(value) { this.write(value); } },
  methods: {
    write(value) {
      if (value === null || value === undefined) return;
      const url = window.location.pathname + (value ? "?" + value : "") + window.location.hash;
      if (url !== window.location.pathname + window.location.search + window.location.hash) {
        window.history.replaceState(window.history.state, "", url);
      }
    },
  },
};
</script>
""").tag(sync=True)
    query = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    on_shortcut = traitlets.Callable(None, allow_none=True)

    def vue_shortcut(self, name: str) -> None:
        """Called from the browser with ``undo`` or ``redo``."""
        if self.on_shortcut is not None and name in ("undo", "redo"):
            self.on_shortcut(name)


@solara.component
def BrowserBridge(query: str, on_shortcut: Callable[[str], None]):
    """Keep the address bar at ``?query`` and pass undo/redo shortcuts to ``on_shortcut``."""
    return BridgeWidget.element(query=query, on_shortcut=on_shortcut)
